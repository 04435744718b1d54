import { createRequire } from 'node:module';
import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import type * as NodeRedis from 'redis';
import type { Logger } from '../logger.ts';

const load = createRequire(import.meta.url);
let nodeRedis: typeof NodeRedis | undefined;

/**
 * node-redis, loaded when a service first connects to Redis rather than
 * when this module is imported: a service without REDIS_URL (the embedded
 * default) never loads it, which is a tenth of a second of a cold start.
 */
export function redisModule(): typeof NodeRedis {
  return (nodeRedis ??= load('redis') as typeof NodeRedis);
}

export interface RedisCacheOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  logger: Logger;
  /**
   * Longest wait for one command. A slower answer counts as a miss, so a
   * sick Redis costs each request at most this much. Default: 200 ms.
   */
  commandTimeoutMs?: number;
  /** Longest wait for a TCP connection to be established. Default: 1000 ms. */
  connectTimeoutMs?: number;
}

/** Longest pause between reconnection attempts. */
const maxReconnectDelayMs = 2_000;
/** At most one "still failing" log line per this interval, however many commands fail. */
const failureLogIntervalMs = 10_000;

/**
 * A KeyValueCache on Redis that fails open: when Redis is slow, down or
 * restarting, reads are misses and writes are dropped, within
 * `commandTimeoutMs`, and the caller serves the request without the cache.
 * There is no offline queue, so nothing piles up in memory while Redis is
 * away, and the client reconnects by itself with capped backoff.
 */
export type RedisClient = ReturnType<typeof NodeRedis.createClient>;

export class RedisCache implements KeyValueCache<string> {
  private readonly client: RedisClient;
  /** The same connection, answering bulk strings as Buffers: cached bytes skip a UTF-8 round trip. */
  private readonly bufferClient;
  private readonly commandTimeoutMs: number;
  private readonly logger: Logger;
  private lastFailureLog = 0;
  private healthy = false;
  private lastFailure: unknown = null;

  constructor({ url, logger, commandTimeoutMs = 200, connectTimeoutMs = 1_000 }: RedisCacheOptions) {
    this.logger = logger;
    this.commandTimeoutMs = commandTimeoutMs;
    const { createClient, RESP_TYPES } = redisModule();
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: connectTimeoutMs,
        reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, maxReconnectDelayMs),
      },
    });
    this.bufferClient = this.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    // Without an 'error' listener node-redis crashes the process on the first socket error.
    this.client.on('error', (error: Error) => this.failed(error));
    this.client.on('ready', () => {
      if (!this.healthy) this.logger.info('redis cache connected');
      this.healthy = true;
      this.lastFailure = null;
    });
    // Connecting retries until Redis answers; until then every call is a miss.
    this.client.connect().catch((error: unknown) => this.failed(error));
  }

  /**
   * The connection itself, for libraries that speak node-redis (the rate
   * limiter). Calls made on it bypass `run`'s timeout and failure handling,
   * so the caller must bring its own.
   */
  get connection(): RedisClient {
    return this.client;
  }

  /** Whether the client is connected and ready now; calls made while it is not are misses. */
  get connected(): boolean {
    return this.client.isReady;
  }

  /** What last went wrong since the client was last ready (a refused connection, say): what a start waiting for Redis reports. */
  get failure(): unknown {
    return this.lastFailure;
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.run((client) => client.get(key));
    return value ?? undefined;
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    const value = await this.run(() => this.bufferClient.get(key));
    return value ?? undefined;
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    const ttl = options?.ttl;
    await this.run(() =>
      ttl
        ? this.client.set(key, value, { expiration: { type: 'PX', value: Math.ceil(ttl * 1000) } })
        : this.client.set(key, value),
    );
  }

  async delete(key: string): Promise<boolean> {
    return ((await this.run((client) => client.del(key))) ?? 0) > 0;
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
    else this.client.destroy();
  }

  /**
   * Runs `command` with the same guarantees as the cache methods: undefined,
   * not an exception, when Redis is not ready, fails, or takes longer than
   * `timeoutMs` (default: the command timeout).
   */
  async run<T>(
    command: (client: RedisClient) => Promise<T>,
    timeoutMs = this.commandTimeoutMs,
  ): Promise<T | undefined> {
    if (!this.client.isReady) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        command(this.client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis command timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      this.failed(error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(error: unknown) {
    this.lastFailure = error;
    const now = Date.now();
    if (this.healthy || now - this.lastFailureLog > failureLogIntervalMs) {
      this.logger.warn({ err: error }, 'redis cache unavailable; serving without it');
      this.lastFailureLog = now;
    }
    this.healthy = false;
  }
}
