import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisCache } from '../src/cache/redis.ts';
import { recentWriteKey, redisRecentWrites } from '../src/db/read-your-writes.ts';
import { createLogger } from '../src/logger.ts';
import { until } from '../../test/support/until.ts';

/**
 * Callers' write positions in a real Redis, as instances of a subgraph
 * with read replicas share them (db/read-your-writes.ts): the later of two
 * positions wins whatever order they arrive in, and each lasts the window.
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
    await writes.record('carol', 5n);
    const ttl = await redis.run((client) => client.pTTL(recentWriteKey(subgraph, 'carol')));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);

    const briefly = redisRecentWrites({ redis: () => redis, subgraph, windowMs: 300 });
    await briefly.record('erin', 5n);
    await until(async () => (await briefly.lastWriteOf('erin')).kind === 'none', {
      timeoutMs: 30_000,
      what: "erin's record expired",
    });
  });

  it('treats a record it cannot read as unknown, so the caller reads from the primary', async () => {
    const writes = redisRecentWrites({ redis: () => redis, subgraph, windowMs: 60_000 });
    await redis.set(recentWriteKey(subgraph, 'dave'), 'not a position');
    expect(await writes.lastWriteOf('dave')).toEqual({ kind: 'unknown' });
  });
});
