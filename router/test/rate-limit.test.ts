import { afterEach, describe, expect, it } from 'vitest';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';
import { signTestToken, testJwtSecret } from '../../test/support/tokens.ts';
import type { RouterSettings } from '../src/router.ts';

/** Rate limits in one router process: per caller, per operation, with 429 and Retry-After before any subgraph call. */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    hello: String
    expensive: String
  }
`;

let graph: TestGraph | null = null;

afterEach(async () => {
  await graph?.stop();
  graph = null;
});

async function start(rateLimit: NonNullable<RouterSettings['rateLimit']>) {
  graph = await startTestGraph(
    'limited',
    sdl,
    { Query: { hello: () => 'hi', expensive: () => 'done' } },
    { rateLimit, responseCache: { enabled: false } },
  );
  return graph;
}

const bearer = async (user: string) => ({
  authorization: `Bearer ${await signTestToken(testJwtSecret, user)}`,
});

describe('rate limits', () => {
  it('refuse a caller over its allowance with 429, Retry-After and RATE_LIMITED, and no subgraph call', async () => {
    const { post, subgraph } = await start({
      perCaller: { points: 5, windowSeconds: 60 },
      operations: {},
      trustedProxies: 0,
    });
    const statuses: number[] = [];
    for (let index = 0; index < 8; index++) statuses.push((await post({ query: `{ hello }` })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(subgraph.requests).toHaveLength(5);

    const refused = await post({ query: '{ hello }' });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.body.errors[0]).toMatchObject({
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds: retryAfter },
    });
  });

  it('count each verified user apart from the others and from anonymous callers', async () => {
    const { post } = await start({ perCaller: { points: 2, windowSeconds: 60 }, operations: {}, trustedProxies: 0 });
    const alice = await bearer('user-alice');
    const bob = await bearer('user-bob');
    for (let index = 0; index < 2; index++) expect((await post({ query: '{ hello }' }, alice)).status).toBe(200);
    expect((await post({ query: '{ hello }' }, alice)).status).toBe(429);
    expect((await post({ query: '{ hello }' }, bob)).status).toBe(200);
    expect((await post({ query: '{ hello }' })).status).toBe(200);
  });

  it('hold an operation to its own, stricter allowance', async () => {
    const { post, subgraph } = await start({
      perCaller: { points: 100, windowSeconds: 60 },
      operations: { Expensive: { points: 2, windowSeconds: 30 } },
      trustedProxies: 0,
    });
    const expensive = { query: 'query Expensive { expensive }', operationName: 'Expensive' };
    expect((await post(expensive)).status).toBe(200);
    expect((await post(expensive)).status).toBe(200);
    const refused = await post(expensive);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(30);
    expect(refused.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    // Other operations still run.
    expect((await post({ query: 'query Cheap { hello }' })).status).toBe(200);
    expect(subgraph.requests).toHaveLength(3);
  });

  it("count a token that does not verify against the client address's allowance", async () => {
    const { post, subgraph } = await start({
      perCaller: { points: 2, windowSeconds: 60 },
      operations: {},
      trustedProxies: 0,
    });
    const forged = {
      authorization: `Bearer ${await signTestToken('a-secret-the-router-does-not-trust-0123', 'user-1')}`,
    };
    const statuses: number[] = [];
    for (let index = 0; index < 4; index++) statuses.push((await post({ query: '{ hello }' }, forged)).status);
    expect(statuses).toEqual([401, 401, 429, 429]);
    // The same address, without a token, has spent its allowance too; a verified user has not.
    expect((await post({ query: '{ hello }' })).status).toBe(429);
    expect((await post({ query: '{ hello }' }, await bearer('user-alice'))).status).toBe(200);
    expect(subgraph.requests).toHaveLength(1);
  });

  it('read the client address through trusted proxies only', async () => {
    const { post } = await start({ perCaller: { points: 1, windowSeconds: 60 }, operations: {}, trustedProxies: 1 });
    // One trusted proxy: the last X-Forwarded-For entry is the client it saw.
    expect((await post({ query: '{ hello }' }, { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' })).status).toBe(200);
    expect((await post({ query: '{ hello }' }, { 'x-forwarded-for': '198.51.100.2, 203.0.113.9' })).status).toBe(429);
    expect((await post({ query: '{ hello }' }, { 'x-forwarded-for': '203.0.113.10' })).status).toBe(200);
  });
});
