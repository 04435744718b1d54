import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisCache } from '../src/cache/redis.ts';
import { recentWriteKey, redisRecentWrites } from '../src/db/read-your-writes.ts';
import { createLogger } from '../src/logger.ts';
import { until } from '../../test/support/until.ts';

/**
 * Callers' write positions in a real Redis, as instances of a subgraph
 * with read replicas share them (db/read-your-writes.ts): the later of two
 * positions wins whatever order they arrive in, each lasts the window from
 * the latest, and one Redis did not take is still kept by its instance.
 */

let redis: RedisCache;
/** A subgraph name of this run's own, so records of other files never meet these. */
const subgraph = `ryw-test-${randomUUID()}`;

beforeAll(async () => {
  const url = inject('redisUrl');
  if (url === null) throw new Error('this test needs a real Redis: the int tier starts one, or set TEST_REDIS_URL');
  redis = new RedisCache({ url, logger: createLogger({ service: 'ryw-test', level: 'silent' }) });
  await until(() => redis.connected, { timeoutMs: 30_000, what: 'redis connected' });
});

afterAll(async () => {
  await redis?.close();
});

describe('write positions in Redis', () => {
  it('keeps the later of two positions whatever order they are recorded in, under ryw:<subgraph>:<caller>', async () => {
    const writes = redisRecentWrites({ redis: () => redis, subgraph, windowMs: 60_000 });
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'none' });
    expect(await writes.record('alice', 0x1_00000010n)).toBe(true);
    expect(await writes.record('alice', 0x0_ffffffffn)).toBe(true);
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 0x1_00000010n });
    await writes.record('alice', 0x2_00000000n);
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 0x2_00000000n });
    expect(await redis.get(recentWriteKey(subgraph, 'alice'))).toBe('0000000200000000');
    expect(await writes.lastWriteOf('bob')).toEqual({ kind: 'none' });
  });

  it('lasts the window from the latest write, and is gone after it', async () => {
    const writes = redisRecentWrites({ redis: () => redis, subgraph, windowMs: 60_000 });
    const key = recentWriteKey(subgraph, 'carol');
    const ttl = () => redis.run((client) => client.pTTL(key));
    await writes.record('carol', 5n);
    expect(await ttl()).toBeGreaterThan(50_000);
    expect(await ttl()).toBeLessThanOrEqual(60_000);
    // As if most of the window had gone by: each later write starts it again, an earlier position too.
    for (const position of [5n, 3n, 9n]) {
      expect(await redis.run((client) => client.pExpire(key, 1_000))).toBe(1);
      expect(await ttl()).toBeLessThanOrEqual(1_000);
      await writes.record('carol', position);
      expect(await ttl()).toBeGreaterThan(50_000);
    }
    expect(await redis.get(key)).toBe('0000000000000009');

    const briefly = redisRecentWrites({ redis: () => redis, subgraph, windowMs: 300 });
    await briefly.record('erin', 5n);
    await until(async () => (await briefly.lastWriteOf('erin')).kind === 'none', {
      timeoutMs: 30_000,
      what: "erin's record expired",
    });
  });

  it('keeps a record made before Redis was connected, in process, and finds it once Redis answers', async () => {
    let connected = false;
    const writes = redisRecentWrites({ redis: () => (connected ? redis : null), subgraph, windowMs: 60_000 });
    expect(await writes.record('frank', 0x42n)).toBe(false);
    expect(await writes.lastWriteOf('frank')).toEqual({ kind: 'unknown' });
    connected = true;
    expect(await redis.get(recentWriteKey(subgraph, 'frank'))).toBeUndefined();
    expect(await writes.lastWriteOf('frank')).toEqual({ kind: 'at', position: 0x42n });
    // Another instance, which never saw it, finds nothing: only this one keeps it.
    const elsewhere = redisRecentWrites({ redis: () => redis, subgraph, windowMs: 60_000 });
    expect(await elsewhere.lastWriteOf('frank')).toEqual({ kind: 'none' });
  });

  it('treats a record it cannot read as unknown, so the caller reads from the primary', async () => {
    const writes = redisRecentWrites({ redis: () => redis, subgraph, windowMs: 60_000 });
    await redis.set(recentWriteKey(subgraph, 'dave'), 'not a position');
    expect(await writes.lastWriteOf('dave')).toEqual({ kind: 'unknown' });
  });
});
