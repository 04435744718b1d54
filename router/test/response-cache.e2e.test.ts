import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedProduct, seedUser } from '../../seed/world.ts';
import { startRedis, type RedisServer } from '../../test/services.ts';
import { runScript, type ServiceProcess } from '../../test/support/processes.ts';
import { composeFor, startSubgraphs, type StartedSubgraphs } from '../../test/support/shop-graph.ts';
import { adminSdl, startAdminSubgraph } from '../../test/support/admin-subgraph.ts';
import type { TestSubgraph } from '../../test/support/test-subgraph.ts';
import { signTestToken, testIdentitySecret } from '../../test/support/tokens.ts';
import { until } from '../../test/support/until.ts';

/**
 * Two router processes sharing one Redis: an entry stored by one is served
 * by the other, a mutation on one purges for both, private entries stay
 * with their user, and a Redis outage costs cache hits, never requests.
 */

const realRedis = inject('redisUrl') !== null;
const secret = 'two-routers-share-this-secret-for-the-test';

let redis: RedisServer;
let shop: StartedSubgraphs;
let admin: TestSubgraph;
let workdir: string;
const routers: Array<{ process: ServiceProcess; url: string }> = [];
const tokens: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

beforeAll(async () => {
  // Sharing needs a real Redis; without redis-server this file fails rather than skips.
  if (!realRedis) throw new Error('needs redis-server on PATH (.ci/run installs it)');
  [redis, shop] = await Promise.all([startRedis(), startSubgraphs('response_cache_e2e')]);
  admin = await startAdminSubgraph(shop.byName.products);
  workdir = await mkdtemp(join(tmpdir(), 'response-cache-e2e-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeFor({ ...shop.byName, admin }, { admin: adminSdl }));
  for (let index = 0; index < 2; index++) {
    const process = runScript('router/src/main.ts', ['--supergraph', supergraphPath, '--port', '0'], {
      REDIS_URL: redis.url,
      AUTH_JWT_SECRET: secret,
      INTERNAL_IDENTITY_SECRET: testIdentitySecret,
      LOG_LEVEL: 'info',
    });
    await process.waitFor((output) => output.includes('"router ready"') && output.includes('redis cache connected'));
    routers.push({ process, url: process.logs().find((line) => line.msg === 'router ready')!.url as string });
  }
  tokens.alice = await signTestToken(secret, seedUser(0).id);
  tokens.bob = await signTestToken(secret, seedUser(1).id);
});

afterAll(async () => {
  await Promise.allSettled(routers.map(({ process }) => process.stop()));
  await Promise.allSettled([redis?.stop(), shop?.stop(), admin?.stop()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

async function post(router: 0 | 1, query: string, variables: Record<string, unknown> = {}, as?: 'alice' | 'bob') {
  const response = await fetch(routers[router]!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(as ? { authorization: `Bearer ${tokens[as]}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, cache: response.headers.get('x-cache'), body: (await response.json()) as any };
}

const productQuery = 'query ($id: ID!) { product(id: $id) { id name } }';
const viewerQuery = '{ viewer { email } }';

describe('two router processes on one Redis', () => {
  it('serve each other’s cached entries', async () => {
    const product = seedProduct(11);
    expect((await post(0, productQuery, { id: product.id })).cache).toBe('MISS');
    const fromOther = await post(1, productQuery, { id: product.id });
    expect(fromOther.cache).toBe('HIT');
    expect(fromOther.body.data.product.name).toBe(product.name);
  });

  it('see a mutation on one purge the entry for both', async () => {
    const product = seedProduct(12);
    await post(0, productQuery, { id: product.id });
    expect((await post(1, productQuery, { id: product.id })).cache).toBe('HIT');

    const renamed = await post(
      1,
      'mutation ($id: ID!) { renameProduct(id: $id, name: "Renamed on router 1") { id } }',
      {
        id: product.id,
      },
    );
    expect(renamed.body.errors).toBeUndefined();

    const onRouter0 = await post(0, productQuery, { id: product.id });
    expect(onRouter0.cache).toBe('MISS');
    expect(onRouter0.body.data.product.name).toBe('Renamed on router 1');
  });

  it('keep each user’s private entries to that user', async () => {
    const alice = seedUser(0);
    const setEmail = (email: string) =>
      shop.byName.accounts.database.db.execute(sql`update users set email = ${email} where id = ${alice.id}`);
    await setEmail('alice-saw-this@example.com');
    expect((await post(0, viewerQuery, {}, 'alice')).cache).toBe('MISS');
    await setEmail('alice-changed-it@example.com');

    const aliceAgain = await post(1, viewerQuery, {}, 'alice');
    expect(aliceAgain.cache).toBe('HIT');
    expect(aliceAgain.body.data.viewer.email).toBe('alice-saw-this@example.com');
    const bob = await post(1, viewerQuery, {}, 'bob');
    expect(bob.cache).toBe('MISS');
    expect(bob.body.data.viewer.email).toBe(seedUser(1).email);
  });

  it('fail no request while Redis is down, and cache again once it is back', async () => {
    const product = seedProduct(13);
    let stop = false;
    const outcomes: Array<{ ok: boolean; cache: string | null }> = [];
    const clients = Array.from({ length: 4 }, async (_, client) => {
      for (let turn = client; !stop; turn++) {
        const response = await post((turn % 2) as 0 | 1, productQuery, { id: product.id });
        outcomes.push({
          ok: response.status === 200 && !response.body.errors && response.body.data.product.id === product.id,
          cache: response.cache,
        });
      }
    });

    // Counted, not timed: a busy machine answers fewer requests in any fixed wait.
    await until(() => outcomes.length >= 10, { timeoutMs: 60_000, what: 'requests answered before the outage' });
    const port = Number(new URL(redis.url).port);
    await redis.stop();
    for (const { process } of routers)
      await process.waitFor(() =>
        process.logs().some((line) => line.msg === 'redis cache unavailable; serving without it'),
      );
    const outageSeen = outcomes.length;
    await until(() => outcomes.length >= outageSeen + 20, {
      timeoutMs: 60_000,
      what: 'requests answered while Redis is down',
    });
    const duringOutage = outcomes.length;
    redis = await startRedis(port);
    for (const { process } of routers)
      await process.waitFor(
        () => process.logs().filter((line) => line.msg === 'redis cache connected').length >= 2,
        15_000,
      );
    // Caching resumes by itself: the entry is stored again and served as a hit.
    await until(() => outcomes.slice(duringOutage).some((outcome) => outcome.cache === 'HIT'), {
      what: 'a cache hit after Redis came back',
    });
    stop = true;
    await Promise.all(clients);

    console.log(
      `response cache outage: ${outcomes.length} requests, ${outcomes.filter((o) => o.cache === 'HIT').length} hits, 0 allowed to fail`,
    );
    expect(outcomes.filter((outcome) => !outcome.ok)).toEqual([]);
  });
});
