import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';

/**
 * The router against the GraphQL-over-HTTP spec, by the `graphql-http`
 * package's own server audit: every MUST and every SHOULD, in development
 * and in production (less the three audits that need introspection).
 */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    hello: String
  }
`;

/** These query `__type`, which production turns off with the rest of introspection. */
const usesIntrospection = new Set(['BF61', '2EA1', '28B9']);

const graphs: Partial<Record<'development' | 'production', TestGraph>> = {};

beforeAll(async () => {
  graphs.development = await startTestGraph('audit', sdl, { Query: { hello: () => 'world' } });
  graphs.production = await startTestGraph(
    'audit',
    sdl,
    { Query: { hello: () => 'world' } },
    { nodeEnv: 'production' },
  );
});

afterAll(async () => {
  await Promise.all(Object.values(graphs).map((graph) => graph.stop()));
});

describe.each(['development', 'production'] as const)('GraphQL over HTTP, %s', (mode) => {
  const audits = serverAudits({ url: () => graphs[mode]!.router.url }).filter(
    (audit) =>
      (audit.name.startsWith('MUST') || audit.name.startsWith('SHOULD')) &&
      !(mode === 'production' && usesIntrospection.has(audit.id)),
  );
  it.each(audits)('$id $name', async ({ fn }) => {
    const result = await fn();
    expect(result.status === 'ok' ? 'ok' : `${result.status}: ${'reason' in result ? result.reason : ''}`).toBe('ok');
  });
});
