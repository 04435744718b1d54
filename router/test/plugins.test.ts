import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../test/support/persisted-queries.ts';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';
import { cacheableForAMinute } from './support/cacheable.ts';
import { probePlugin } from './support/probe-plugin.ts';

/** The plugin contract from the outside: a plugin the router's source does not know, added to a running router. */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    cached: String
  }
`;

const probe = probePlugin();
let graph: TestGraph;

beforeAll(async () => {
  graph = await startTestGraph(
    'probed',
    sdl,
    {
      Query: {
        cached: cacheableForAMinute('kept'),
      },
    },
    { plugins: [probe] },
  );
});

afterAll(async () => {
  await graph?.stop();
});

describe('a plugin added to the router', () => {
  it('runs on a miss, through Apollo Server, and on a hit, in front of it', async () => {
    const miss = await graph.post({ query: '{ cached }' });
    const hit = await graph.post({ query: '{ cached }' });
    expect([miss.status, miss.headers.get('x-cache'), miss.headers.get('x-probe')]).toEqual([200, 'MISS', 'seen']);
    expect([hit.status, hit.headers.get('x-cache'), hit.headers.get('x-probe')]).toEqual([200, 'HIT', 'seen']);
    expect(hit.body).toEqual(miss.body);
    expect(probe.seen).toEqual([
      {
        hooks: ['onRequest', 'onOperation', 'context', 'apollo', 'onResponse'],
        answeredBy: 'gateway',
        documentHash: sha256('{ cached }'),
      },
      // The response cache, listed before it, answered in the operation stage: the probe's own turn never came.
      { hooks: ['onRequest', 'onResponse'], answeredBy: 'front', documentHash: null },
    ]);
    expect(graph.subgraph.requests).toHaveLength(1);
  });

  it('sees what the router refuses before the operation stage', async () => {
    const before = probe.seen.length;
    const response = await graph.post({
      query: '{ cached }',
      extensions: { persistedQuery: { version: 2, sha256Hash: sha256('{ cached }') } },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-probe')).toBe('seen');
    expect(probe.seen.slice(before).map(({ hooks }) => hooks)).toEqual([['onRequest', 'onResponse']]);
  });

  it('is stopped with the router', async () => {
    const other = probePlugin();
    const stopping = await startTestGraph('probed', sdl, { Query: { cached: () => 'kept' } }, { plugins: [other] });
    expect(other.stopped).toBe(false);
    await stopping.stop();
    expect(other.stopped).toBe(true);
  });
});

describe('readiness', () => {
  it('names the serving supergraph in a field of its own', async () => {
    const response = await fetch(graph.router.url.replace(/graphql$/, 'health/ready'));
    const body = (await response.json()) as { status: string; graphId?: unknown; checks: Record<string, unknown> };
    expect(response.status).toBe(200);
    expect(body.graphId).toBe(graph.router.graphId());
    expect(body.checks.supergraph).toEqual({ ok: true, detail: `serving ${graph.router.graphId()}` });
  });
});
