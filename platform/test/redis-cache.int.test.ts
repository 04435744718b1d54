import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RedisCache } from '../src/cache/redis.ts';
import { createLogger } from '../src/logger.ts';
import { freePorts } from '../../test/support/processes.ts';
import { startRedis, type RedisServer } from '../../test/services.ts';
import { until } from '../../test/support/until.ts';

/**
 * The Redis cache against a Redis this file owns, so it can be killed and
 * brought back: the cache must answer within its timeout whatever Redis
 * does, and resume by itself.
 */

const logger = createLogger({ service: 'redis-cache-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const realRedis = inject('redisUrl') !== null;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function cacheFor(url: string) {
  const cache = new RedisCache({ url, logger, commandTimeoutMs: 200 });
  cleanups.push(() => cache.close());
  return cache;
}

/** Runs `run` and returns how long it took, in ms. */
async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await run();
  return [result, performance.now() - started];
}

describe('redis cache', () => {
  it('treats an address with no Redis as a cache that misses, quickly and without throwing', async () => {
    const [port] = await freePorts(1);
    const cache = cacheFor(`redis://127.0.0.1:${port}`);
    const [value, elapsed] = await timed(() => cache.get('anything'));
    expect(value).toBeUndefined();
    expect(elapsed).toBeLessThan(500);
    await expect(cache.set('anything', 'value', { ttl: 60 })).resolves.toBeUndefined();
    await expect(cache.delete('anything')).resolves.toBe(false);
  });

  it(
    realRedis
      ? 'stores with a TTL, survives Redis being killed, and resumes when it returns'
      : 'needs redis-server, which only CI guarantees',
    async () => {
      if (!realRedis) {
        expect(process.env.CI).not.toBe('true');
        return;
      }
      let redis: RedisServer = await startRedis();
      cleanups.push(() => redis.stop());
      const cache = cacheFor(redis.url);
      await until(async () => cache.connected);

      await cache.set('apq:abc', 'query { a }', { ttl: 60 });
      expect(await cache.get('apq:abc')).toBe('query { a }');
      await cache.set('short', 'lived', { ttl: 0.2 });
      await sleep(400);
      expect(await cache.get('short')).toBeUndefined();
      expect(await cache.delete('apq:abc')).toBe(true);

      // Redis dies: every call still answers, as a miss, within the command timeout.
      const port = Number(new URL(redis.url).port);
      await redis.stop();
      for (let attempt = 0; attempt < 20; attempt++) {
        const [value, elapsed] = await timed(() => cache.get('apq:abc'));
        expect(value).toBeUndefined();
        expect(elapsed).toBeLessThan(500);
        await cache.set('while-down', 'dropped');
      }

      // Redis returns on the same address: the cache reconnects by itself.
      redis = await startRedis(port);
      await until(async () => {
        await cache.set('after', 'restart', { ttl: 60 });
        return (await cache.get('after')) === 'restart';
      });
    },
  );
});
