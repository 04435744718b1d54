import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';

/** Browsers: listed origins may call the router, others get no CORS grant, and preflights are answered here. */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    hello: String
  }
`;
const shop = 'https://shop.example.com';

let graph: TestGraph;

beforeAll(async () => {
  graph = await startTestGraph('cors', sdl, { Query: { hello: () => 'hi' } }, { cors: { origins: [shop] } });
});

afterAll(async () => {
  await graph?.stop();
});

const preflight = (origin: string) =>
  fetch(graph.router.url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, authorization',
    },
  });

describe('CORS', () => {
  it('grants a listed origin, on preflight and on the request', async () => {
    const answer = await preflight(shop);
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(shop);
    expect(answer.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(answer.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();

    const response = await graph.post({ query: '{ hello }' }, { origin: shop });
    expect(response.headers.get('access-control-allow-origin')).toBe(shop);
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('grants nothing to any other origin', async () => {
    for (const origin of ['https://evil.example', 'https://shop.example.com.evil.example', 'null']) {
      const answer = await preflight(origin);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
      expect(answer.headers.get('access-control-allow-methods')).toBeNull();
      const response = await graph.post({ query: '{ hello }' }, { origin });
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
    // The four POSTs reached the subgraph; the four preflights never reach GraphQL at all.
    expect(graph.subgraph.requests).toHaveLength(4);
  });
});
