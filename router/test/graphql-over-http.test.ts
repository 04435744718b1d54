import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';
import { cacheableForAMinute } from './support/cacheable.ts';

/**
 * The router against the GraphQL-over-HTTP spec, by the `graphql-http`
 * package's own server audit: every MUST and every SHOULD, in development
 * and in production (less the three audits that need introspection).
 *
 * Then every audit again against the response cache: its requests ask for
 * a cacheable field instead of `__typename` (which no cache policy
 * covers), and each is sent twice, the first to warm the cache, so the
 * answer audited is a hit wherever the request is cacheable. A hit must
 * pass every audit a miss passes.
 */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    hello: String
  }
`;

const resolvers = {
  Query: {
    // Cacheable by the router's response cache, so the audits can run against hits.
    hello: cacheableForAMinute('world'),
  },
};

/** These query `__type`, which production turns off with the rest of introspection. */
const usesIntrospection = new Set(['BF61', '2EA1', '28B9']);

const graphs: Partial<Record<'development' | 'production', TestGraph>> = {};

beforeAll(async () => {
  graphs.development = await startTestGraph('audit', sdl, resolvers);
  graphs.production = await startTestGraph('audit', sdl, resolvers, { nodeEnv: 'production' });
});

afterAll(async () => {
  await Promise.all(Object.values(graphs).map((graph) => graph.stop()));
});

type Mode = 'development' | 'production';

/** The spec's MUST and SHOULD audits against the router in `mode`, each one a test. */
function auditTests(mode: Mode, fetchFn?: typeof fetch): void {
  const audits = serverAudits({ url: () => graphs[mode]!.router.url, ...(fetchFn ? { fetchFn } : {}) }).filter(
    (audit) =>
      (audit.name.startsWith('MUST') || audit.name.startsWith('SHOULD')) &&
      !(mode === 'production' && usesIntrospection.has(audit.id)),
  );
  it.each(audits)('$id $name', async ({ fn }) => {
    const result = await fn();
    expect(result.status === 'ok' ? 'ok' : `${result.status}: ${'reason' in result ? result.reason : ''}`).toBe('ok');
  });
}

describe.each(['development', 'production'] as const)('GraphQL over HTTP, %s', (mode) => {
  auditTests(mode);
});

/** Responses the cache answered, by mode, to show the audits below did run against hits. */
const hits = { development: 0, production: 0 };

/**
 * `fetch` for the audits: each request asks for the cacheable `hello`
 * instead of `__typename` and is sent twice; the second answer is audited.
 */
function warmingFetch(mode: Mode): typeof fetch {
  const cacheable = (text: string) => text.replaceAll('__typename', 'hello');
  return async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = cacheable(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const request = { ...init, ...(typeof init.body === 'string' ? { body: cacheable(init.body) } : {}) };
    await (await fetch(url, request)).arrayBuffer();
    const response = await fetch(url, request);
    if (response.headers.get('x-cache') === 'HIT') hits[mode]++;
    return response;
  };
}

describe.each(['development', 'production'] as const)('GraphQL over HTTP against a warm cache, %s', (mode) => {
  auditTests(mode, warmingFetch(mode));

  it('answered from the cache wherever the request was cacheable', () => {
    // The audits send `{ __typename }`, now `{ hello }`, as a plain query by GET and POST in many envelopes.
    expect(hits[mode]).toBeGreaterThanOrEqual(10);
  });
});
