import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityVerifier, identityHeader } from '../../platform/src/identity.ts';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';
import { signTestToken, testIdentitySecret, testJwtSecret } from '../../test/support/tokens.ts';

/**
 * What a subgraph hears about the caller: a subgraph that echoes its
 * request headers shows that client credentials never reach it, and that
 * the only identity it gets is the one the router signed.
 */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    "The request headers this subgraph received, as JSON."
    headers: String!
  }
`;

let graph: TestGraph;

beforeAll(async () => {
  graph = await startTestGraph(
    'echo',
    sdl,
    {
      Query: {
        headers: (_: unknown, __: unknown, context: unknown) =>
          JSON.stringify((context as { headers: object }).headers),
      },
    },
    { authentication: { keys: { kind: 'secret', secret: testJwtSecret } }, identitySecret: testIdentitySecret },
  );
});

afterAll(async () => {
  await graph?.stop();
});

const clientCredentials = {
  cookie: 'session=secret-session-id',
  'proxy-authorization': 'Basic cHJveHk6cGFzcw==',
  'x-api-key': 'client-api-key',
  [identityHeader]: 'forged.identity.header',
  'x-forwarded-for': '203.0.113.7',
};

async function headersSeenBySubgraph(headers: Record<string, string>): Promise<Record<string, string>> {
  // The response cache must not answer: every request has to reach the subgraph.
  const response = await graph.post({ query: `{ headers }`, extensions: { nonce: Math.random() } }, headers);
  expect(response.status).toBe(200);
  return JSON.parse(response.body.data.headers) as Record<string, string>;
}

describe('headers a subgraph receives', () => {
  it('carry no client credential and only the identity the router signed', async () => {
    const token = await signTestToken(testJwtSecret, 'user-42', ['orders:read']);
    const seen = await headersSeenBySubgraph({ authorization: `Bearer ${token}`, ...clientCredentials });

    for (const name of ['authorization', 'cookie', 'proxy-authorization', 'x-api-key', 'x-forwarded-for'])
      expect(seen).not.toHaveProperty(name);
    expect(JSON.stringify(seen)).not.toContain(token);
    expect(seen[identityHeader]).not.toBe(clientCredentials[identityHeader]);
    const verifier = await createIdentityVerifier(testIdentitySecret);
    expect(await verifier.verify(seen[identityHeader])).toEqual({ id: 'user-42', scopes: ['orders:read'] });
  });

  it('carry no identity at all for an anonymous caller, whatever it sends', async () => {
    const seen = await headersSeenBySubgraph(clientCredentials);
    expect(seen).not.toHaveProperty(identityHeader);
    expect(seen).not.toHaveProperty('cookie');
  });

  it('are the same small set on every request', async () => {
    const seen = await headersSeenBySubgraph({ 'user-agent': 'curl/8', 'accept-language': 'fr' });
    // x-request-id is the subgraph's own: its HTTP layer gives every request one.
    expect(Object.keys(seen).sort()).toEqual([
      'accept',
      'connection',
      'content-length',
      'content-type',
      'host',
      'x-request-id',
    ]);
  });
});
