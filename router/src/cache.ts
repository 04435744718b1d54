import { InMemoryLRUCache, type KeyValueCache } from '@apollo/utils.keyvaluecache';
import { RedisCache } from '../../platform/src/cache/redis.ts';
import type { Logger } from '../../platform/src/logger.ts';

export interface SharedCache {
  cache: KeyValueCache<string>;
  /** `redis` when router instances share it, `memory` when each has its own. */
  kind: 'redis' | 'memory';
  /** The Redis connection behind `cache`, for features that need more than get and set. */
  redis: RedisCache | null;
  close(): Promise<void>;
}

/** In-process cache size when no Redis is configured, in bytes of stored strings. */
const memoryCacheBytes = 64 * 1024 * 1024;

/**
 * The router's cache: Redis when `redisUrl` is set, so every instance sees
 * the same entries, otherwise a bounded LRU in this process. Features store
 * under their own key prefix.
 */
export function createSharedCache(redisUrl: string | null, logger: Logger): SharedCache {
  if (redisUrl) {
    const redis = new RedisCache({ url: redisUrl, logger });
    return { cache: redis, kind: 'redis', redis, close: () => redis.close() };
  }
  return {
    cache: new InMemoryLRUCache<string>({ maxSize: memoryCacheBytes, sizeCalculation: (value) => value.length || 1 }),
    kind: 'memory',
    redis: null,
    close: async () => {},
  };
}
