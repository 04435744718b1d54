import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { RedisCache } from '../../platform/src/cache/redis.ts';
import { testLogger } from '../../test/support/shop-graph.ts';
import { until } from '../../test/support/until.ts';
import { MemoryResponseStore, RedisResponseStore, type ResponseStore } from '../src/plugins/response-cache/index.ts';
import type { CachedResponse, ResponseStoreOptions } from '../src/plugins/response-cache/store.ts';

/**
 * The store contract, run over both stores: entries found by key, removed
 * by tag, and kept out when a purge of one of their tags came after the
 * request began reading (the race that would otherwise store a stale answer
 * just after the write's purge). Redis on a logical database of its own,
 * because `purgeAll` clears every entry of the database it runs on.
 */

const redisUrl = inject('redisUrl');
const redis = redisUrl ? new RedisCache({ url: `${redisUrl}/13`, logger: testLogger('redis') }) : null;

afterAll(async () => {
  await redis?.close();
});

/**
 * Opened with no refill delay unless a test asks for one: the purge count's
 * guarantee is tested apart from the delay, which would also keep out the
 * responses read after a purge.
 */
const stores: Array<[string, (options?: ResponseStoreOptions) => Promise<ResponseStore>]> = [
  ['memory', async ({ refillDelayMs = 0 } = {}) => new MemoryResponseStore(undefined, { refillDelayMs })],
  [
    'redis',
    async ({ refillDelayMs = 0 } = {}) => {
      if (!redis) throw new Error('needs redis-server on PATH (.ci/run installs it)');
      await until(() => redis.connected, { what: 'redis connected' });
      return new RedisResponseStore(redis, { refillDelayMs });
    },
  ],
];

function response(text: string): CachedResponse {
  return {
    body: Buffer.from(text),
    createdAt: Date.now(),
    maxAgeSeconds: 60,
    scope: 'PUBLIC',
    contentType: 'application/json',
  };
}

describe.each(stores)('the %s response store', (_, open) => {
  const fresh = () => ({ key: randomUUID(), product: `Product:${randomUUID()}`, user: `User:${randomUUID()}` });

  it('serves what it stored, and a purge of any of its tags removes it', async () => {
    const store = await open();
    const [a, b] = [fresh(), fresh()];
    await store.set(a.key, response('a'), [a.product, a.user], (await store.generation())!);
    await store.set(b.key, response('b'), [b.product], (await store.generation())!);
    expect((await store.get(a.key))?.body.toString()).toBe('a');

    expect(await store.purgeTags([a.user])).toBe(1);
    expect(await store.get(a.key)).toBeUndefined();
    expect((await store.get(b.key))?.body.toString()).toBe('b');
  });

  it('keeps out a response read before a purge of one of its tags', async () => {
    const store = await open();
    const entry = fresh();
    const readFrom = (await store.generation())!;
    // The write commits and purges while the request is still reading the old state.
    await store.purgeTags([entry.product]);
    await store.set(entry.key, response('stale'), [entry.product, entry.user], readFrom);
    expect(await store.get(entry.key)).toBeUndefined();

    // Read again after the purge: the answer is current and kept.
    await store.set(entry.key, response('current'), [entry.product, entry.user], (await store.generation())!);
    expect((await store.get(entry.key))?.body.toString()).toBe('current');
  });

  it('keeps no response carrying a purged tag during the refill delay, however late it was read', async () => {
    const store = await open({ refillDelayMs: 60_000 });
    const [entry, other] = [fresh(), fresh()];
    await store.purgeTags([entry.product]);
    // Read after the purge (a later generation), from a replica that had not replayed the change yet.
    await store.set(entry.key, response('from the past'), [entry.product, entry.user], (await store.generation())!);
    expect(await store.get(entry.key)).toBeUndefined();
    // Only responses carrying the purged tag wait.
    await store.set(other.key, response('other'), [other.product], (await store.generation())!);
    expect((await store.get(other.key))?.body.toString()).toBe('other');
  });

  it('keeps responses carrying a purged tag again once the refill delay is over', async () => {
    const refillDelayMs = 200;
    const store = await open({ refillDelayMs });
    const entry = fresh();
    await store.purgeTags([entry.product]);
    const purgedAt = performance.now();
    await until(
      async () => {
        await store.set(entry.key, response('current'), [entry.product], (await store.generation())!);
        return (await store.get(entry.key)) !== undefined;
      },
      { what: 'the entry stored after the refill delay' },
    );
    // Not before the delay (Redis expires the mark on its own clock: a few ms of leeway).
    expect(performance.now() - purgedAt).toBeGreaterThanOrEqual(refillDelayMs - 20);
    expect((await store.get(entry.key))?.body.toString()).toBe('current');
  });

  it('keeps no response at all for the refill delay after a purge of everything', async () => {
    const store = await open({ refillDelayMs: 60_000 });
    const entry = fresh();
    await store.purgeAll();
    await store.set(entry.key, response('from the past'), [entry.product], (await store.generation())!);
    expect(await store.get(entry.key)).toBeUndefined();
  });

  it('keeps a response when only other tags were purged while it was read', async () => {
    const store = await open();
    const entry = fresh();
    const readFrom = (await store.generation())!;
    await store.purgeTags([fresh().product]);
    await store.set(entry.key, response('unaffected'), [entry.product], readFrom);
    expect((await store.get(entry.key))?.body.toString()).toBe('unaffected');
  });

  it('keeps out every response read before a purge of everything', async () => {
    const store = await open();
    const entry = fresh();
    const readFrom = (await store.generation())!;
    await store.purgeAll();
    await store.set(entry.key, response('stale'), [entry.product], readFrom);
    expect(await store.get(entry.key)).toBeUndefined();
    // The purge count survives the purge, so the next read is not mistaken for an old one.
    expect(await store.generation()).toBeGreaterThan(readFrom);
  });
});

describe('the redis response store', () => {
  it('keeps no entry one of its tag sets failed to take, which a purge of that tag would miss', async () => {
    const [, open] = stores.find(([kind]) => kind === 'redis')!;
    const store = await open();
    const entry = { key: randomUUID(), product: `Product:${randomUUID()}`, user: `User:${randomUUID()}` };
    // A tag set that refuses the entry (WRONGTYPE), as a tag set's master failing its part of the
    // batch does on a cluster, while the entry's own SET succeeds.
    await redis!.connection.set(`rc:t:${entry.user}`, 'not a sorted set');
    await store.set(
      entry.key,
      response('without one of its tags'),
      [entry.product, entry.user],
      (await store.generation())!,
    );
    expect(await store.get(entry.key)).toBeUndefined();
  });
});
