import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import type * as NodeRedis from 'redis';
import type { RedisArgument } from 'redis';
import type { Logger } from '../logger.ts';
import { parseRedisUrl } from './redis-url.ts';

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

/** A connection to one Redis server: a standalone one, or one node of a cluster. */
export type RedisNodeClient = ReturnType<typeof NodeRedis.createClient>;
/** A Redis Cluster: one connection per master, each command sent to the master of its key's slot. */
export type RedisClusterClient = ReturnType<typeof NodeRedis.createCluster>;
/**
 * What every Redis feature is handed. A command on one key reads the same
 * on both; what differs (a batch over keys of several slots, a scan, a
 * blocking read, a command for one server) asks `isCluster`.
 */
export type RedisClient = RedisNodeClient | RedisClusterClient;

export function isCluster(client: RedisClient): client is RedisClusterClient {
  return 'masters' in client;
}

/**
 * Whether commands can be sent now. A cluster is ready once it knows which
 * master holds which slots; one of its masters may still be down. With
 * `key`, on a cluster: whether the master of that key is up, which every
 * command on a cluster must ask before it is sent. node-redis has a master
 * that could not be reached when it learned the layout hold each command
 * for it until that master answers, however long (the command waits on the
 * node's first connection, which no offline queue setting covers): each
 * would cost its caller the whole command timeout and stay in memory with
 * its arguments. Asked first, such a command fails at once instead.
 */
export function isRedisReady(client: RedisClient, key?: string): boolean {
  if (!isCluster(client)) return client.isReady;
  if (!client.isOpen || client.masters.length === 0) return false;
  return key === undefined || masterOf(client, key)?.client?.isReady === true;
}

/** The master that holds `key`'s slot, as far as the cluster client knows now. */
export function masterOf(cluster: RedisClusterClient, key: string) {
  return cluster.slots[keySlot(key)]?.master;
}

const slotCount = 16_384;

/**
 * The hash slot of `key`, as Redis Cluster computes it: CRC16 (XMODEM) of
 * the key, or of its hash tag, the part between the first `{` and the next
 * `}` when that part is not empty, so keys sharing a tag share a slot.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf('{');
  const close = open === -1 ? -1 : bytes.indexOf('}', open + 1);
  const hashed = close > open + 1 ? bytes.subarray(open + 1, close) : bytes;
  let crc = 0;
  for (const byte of hashed) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % slotCount;
}

/** One command on one key: `[name, key, ...arguments]`, as sent. */
export type KeyCommand = [name: string, key: string, ...args: RedisArgument[]];

/**
 * Sends `commands` at once and resolves with their raw replies, in order.
 * On one server they go as one pipeline: one round trip. On a cluster a
 * pipeline would go to one master while the keys live on several, so each
 * command goes to the master of its key, all at once: node-redis writes
 * what a master gets in one tick together, so one round trip per master,
 * in parallel. Not atomic, either way: the commands may run interleaved
 * with other clients'.
 */
export async function pipeline(client: RedisClient, commands: readonly KeyCommand[]): Promise<unknown[]> {
  if (!isCluster(client)) {
    const batch = client.multi();
    for (const command of commands) batch.addCommand(command);
    return batch.execAsPipeline();
  }
  // Nothing is sent unless every master involved is up: a master that is down fails the batch at once.
  const down = commands.find(([, key]) => !isRedisReady(client, key));
  if (down) throw new Error(`redis cluster: the master of slot ${keySlot(down[1])} is not reachable`);
  // Every command settles before the batch does, as one server's pipeline does: a caller that
  // undoes what landed after a failure (RedisResponseStore.set) must not undo it before it lands.
  const outcomes = await Promise.allSettled(commands.map((command) => client.sendCommand(command[1], false, command)));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value);
}

/** Least time between two rediscoveries of one cluster's layout, however many failures ask for one. */
const topologyRefreshIntervalMs = 500;
const topologyRefreshes = new WeakMap<RedisClusterClient, { last: number; running: Promise<void> | null }>();
/** Whether the node-redis internals `refreshTopology` uses were found missing once already: said once per process. */
let rediscoveryMissingLogged = false;

/**
 * Asks the cluster for its layout again, at most once per interval.
 * node-redis rediscovers only on a MOVED or ASK reply, which a master that
 * died never sends: without this, after a replica took over a dead master's
 * slots, their commands would keep going to the dead master's connection
 * and fail. So every node failure, and every failed command on a cluster,
 * asks for this. Resolves when the rediscovery it started or joined ends.
 */
export function refreshTopology(cluster: RedisClusterClient, logger?: Logger): Promise<void> {
  const state = topologyRefreshes.get(cluster) ?? { last: 0, running: null };
  topologyRefreshes.set(cluster, state);
  if (state.running) return state.running;
  if (!cluster.isOpen || Date.now() - state.last < topologyRefreshIntervalMs) return Promise.resolve();
  // Any master that answers will do; node-redis falls back to the seed nodes when it does not.
  const startWith = (cluster.masters.find((master) => master.client?.isReady) ?? cluster.masters[0])?.client;
  if (!startWith) return Promise.resolve(); // the layout is not known yet: connecting is at it
  state.last = Date.now();
  let rediscovery: Promise<void>;
  try {
    // node-redis's own rediscovery, the one a MOVED reply starts (declared in its types, underscore and
    // all): if an upgrade changes it, test/redis-cluster-failover.int.test.ts fails. This runs in 'error'
    // listeners, where a throw would crash the process: a missing internal is said once instead, and the
    // cluster then follows a failover only when a node answers MOVED.
    rediscovery = Promise.resolve(cluster._slots.rediscover(startWith));
  } catch (error) {
    if (!rediscoveryMissingLogged) {
      rediscoveryMissingLogged = true;
      logger?.error(
        { err: error },
        'redis cluster: cannot ask for its layout again (node-redis internals changed?); a failover is followed only once a node answers MOVED',
      );
    }
    return Promise.resolve();
  }
  state.running = rediscovery
    .catch((error: unknown) => logger?.debug({ err: error }, 'redis cluster: rediscovering its layout failed'))
    .finally(() => {
      state.running = null;
      state.last = Date.now();
      // Closed while rediscovering: the connections it just opened must not outlive the close.
      if (!cluster.isOpen && cluster.masters.length > 0) cluster.destroy();
    })
    .catch(() => {});
  return state.running;
}

export interface RedisCacheOptions {
  /** `REDIS_URL`: one server (`redis://`, `rediss://`) or a cluster's nodes (`redis+cluster://`); see redis-url.ts. */
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
/** How long closing a cluster may wait for its connections to finish what they were sending. */
const clusterCloseTimeoutMs = 2_000;

const reconnectDelay = (retries: number) => Math.min(50 * 2 ** retries, maxReconnectDelayMs);

/**
 * A KeyValueCache on Redis that fails open: when Redis is slow, down or
 * restarting, reads are misses and writes are dropped, within
 * `commandTimeoutMs`, and the caller serves the request without the cache.
 * There is no offline queue, so nothing piles up in memory while Redis is
 * away, and the client reconnects by itself with capped backoff.
 *
 * On a cluster the same holds per master: while one is down, the keys of
 * its slots are misses, at once (each command first asks whether its key's
 * master is up: `isRedisReady`), and the others are served; once a replica
 * has taken over, the client finds it (`refreshTopology`) and they are
 * served again.
 */
export class RedisCache implements KeyValueCache<string> {
  private readonly client: RedisClient;
  /** The same connections, answering bulk strings as Buffers: cached bytes skip a UTF-8 round trip. */
  private readonly bufferClient;
  private readonly commandTimeoutMs: number;
  private readonly logger: Logger;
  /** Ends a cluster's connection attempts when the cache is closed. */
  private readonly closing = new AbortController();
  private lastFailureLog = 0;
  private healthy = false;
  private lastFailure: unknown = null;

  constructor({ url, logger, commandTimeoutMs = 200, connectTimeoutMs = 1_000 }: RedisCacheOptions) {
    this.logger = logger;
    this.commandTimeoutMs = commandTimeoutMs;
    const { createClient, createCluster, RESP_TYPES } = redisModule();
    const buffers = { [RESP_TYPES.BLOB_STRING]: Buffer };
    const socket = { connectTimeout: connectTimeoutMs, reconnectStrategy: reconnectDelay };
    const target = parseRedisUrl(url);
    if (target.kind === 'server') {
      const client = createClient({ url, disableOfflineQueue: true, socket });
      this.client = client;
      this.bufferClient = client.withTypeMapping(buffers);
      // Without an 'error' listener node-redis crashes the process on the first socket error.
      client.on('error', (error: Error) => this.failed(error));
      client.on('ready', () => this.recovered());
      // Connecting retries until Redis answers; until then every call is a miss.
      client.connect().catch((error: unknown) => this.failed(error));
      return;
    }
    const cluster = createCluster({
      rootNodes: target.seeds.map((seed) => ({ socket: seed })),
      // Every node's connection, the seeds' and those discovered: the same as a server's.
      defaults: {
        ...(target.username === null ? {} : { username: target.username }),
        ...(target.password === null ? {} : { password: target.password }),
        disableOfflineQueue: true,
        socket: target.tls ? { ...socket, tls: true as const } : socket,
      },
    });
    this.client = cluster;
    this.bufferClient = cluster.withTypeMapping(buffers);
    // Both kinds of error need a listener, or node-redis crashes the process.
    cluster.on('error', (error: Error) => this.failed(error));
    cluster.on('node-error', (error: Error) => this.failed(error));
    void this.connectCluster(cluster);
  }

  /**
   * The connection itself, for libraries that speak node-redis (the rate
   * limiter) and for the event streams. Calls made on it bypass `run`'s
   * timeout and failure handling, so the caller must bring its own.
   */
  get connection(): RedisClient {
    return this.client;
  }

  /**
   * Whether the client is connected and ready now (on a cluster: the layout
   * is known and every master's connection is ready); calls made while it
   * is not are misses (on a cluster: those for a master that is down).
   */
  get connected(): boolean {
    const client = this.client;
    return isCluster(client)
      ? isRedisReady(client) && client.masters.every((master) => master.client?.isReady)
      : client.isReady;
  }

  /**
   * Whether Redis can serve anything now: on one server, `connected`; on a
   * cluster, the layout is known and at least one master is ready. What a
   * service's start waits for: that REDIS_URL leads to a working Redis
   * (reachable, credentials and TLS right). A master down is not worth
   * waiting for, since the running service copes with it per key (misses,
   * publishes retried, readers waiting for the promoted replica); and while
   * the cluster takes minutes to replace it, or an operator to restart it, a
   * subgraph that waited would not start at all.
   */
  get available(): boolean {
    const client = this.client;
    return isCluster(client)
      ? isRedisReady(client) && client.masters.some((master) => master.client?.isReady)
      : client.isReady;
  }

  /** What last went wrong since the client was last ready (a refused connection, say): what a start waiting for Redis reports. */
  get failure(): unknown {
    return this.lastFailure;
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.run((client) => client.get(key), { key });
    return value ?? undefined;
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    const value = await this.run(() => this.bufferClient.get(key), { key });
    return value ?? undefined;
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    const ttl = options?.ttl;
    await this.run(
      (client) =>
        ttl
          ? client.set(key, value, { expiration: { type: 'PX', value: Math.ceil(ttl * 1000) } })
          : client.set(key, value),
      { key },
    );
  }

  async delete(key: string): Promise<boolean> {
    return ((await this.run((client) => client.del(key), { key })) ?? 0) > 0;
  }

  async close(): Promise<void> {
    this.closing.abort();
    const client = this.client;
    if (!isCluster(client)) {
      if (client.isOpen) await client.close().catch(() => client.destroy());
      else client.destroy();
      return;
    }
    if (!client.isOpen) return;
    // A connection to a master that is down never finishes what it holds: close what answers, drop the rest.
    const closed = await Promise.race([
      client.close().then(() => true),
      sleep(clusterCloseTimeoutMs, false, { ref: false }),
    ]).catch(() => false);
    if (!closed) client.destroy();
  }

  /**
   * Runs `command` with the same guarantees as the cache methods: undefined,
   * not an exception, when Redis is not ready, fails, or takes longer than
   * `timeoutMs` (default: the command timeout). Give the `key` a command on
   * one key works on: on a cluster it is then a miss at once when that key's
   * master is down (see `isRedisReady`). Commands on several keys go through
   * `pipeline`, which asks the same for each.
   */
  async run<T>(
    command: (client: RedisClient) => Promise<T>,
    { timeoutMs = this.commandTimeoutMs, key }: { timeoutMs?: number; key?: string } = {},
  ): Promise<T | undefined> {
    const client = this.client;
    if (!isRedisReady(client, key)) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        command(client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis command timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      // A server's client says when it is back ('ready'); a cluster does not, so an answer with every master up does.
      if (!this.healthy && isCluster(client) && this.connected) this.recovered();
      return result;
    } catch (error) {
      this.failed(error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Connects until the cluster answers: unlike a server's client, node-redis's cluster gives up after one try. */
  private async connectCluster(cluster: RedisClusterClient): Promise<void> {
    const { signal } = this.closing;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await cluster.connect();
        // Closed while connecting: what the attempt opened must not outlive the close.
        if (signal.aborted) cluster.destroy();
        else this.recovered();
        return;
      } catch (error) {
        this.failed(error);
        await sleep(reconnectDelay(attempt), undefined, { signal }).catch(() => {});
      }
    }
  }

  private recovered() {
    if (!this.healthy) this.logger.info('redis cache connected');
    this.healthy = true;
    this.lastFailure = null;
  }

  private failed(error: unknown) {
    this.lastFailure = error;
    const now = Date.now();
    if (this.healthy || now - this.lastFailureLog > failureLogIntervalMs) {
      this.logger.warn({ err: error }, 'redis cache unavailable; serving without it');
      this.lastFailureLog = now;
    }
    this.healthy = false;
    // On a cluster a failure may be a master gone, its slots taken over by a replica.
    if (isCluster(this.client)) void refreshTopology(this.client, this.logger);
  }
}
