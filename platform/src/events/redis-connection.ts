import { once } from 'node:events';
import {
  isCluster,
  isRedisReady,
  keySlot,
  masterOf,
  refreshTopology,
  type RedisClient,
  type RedisNodeClient,
} from '../cache/redis.ts';
import type { Logger } from '../logger.ts';
import { deadLetterStream } from './types.ts';

/** What the Redis bus's readers share about the connections their blocking reads hold. */

/**
 * A connection of its own for a reader whose reads block (XREADGROUP,
 * XREAD BLOCK) on one stream, opened by the first `ready`. `name` shows in
 * CLIENT LIST.
 *
 * On one Redis server it is a duplicate of the bus's connection. On a
 * cluster it is a connection to the master that holds the stream's slot,
 * duplicated from the cluster's own connection to that master, which a
 * blocking read would hold up for every other command on that master. It
 * follows the slot: when the master dies and a replica takes over, or the
 * slot moves (MOVED), the reader's next `ready` connects to the new owner.
 */
export class DedicatedConnection {
  private connection: RedisNodeClient | null = null;
  /** A connection to the same server that never blocks: CLIENT UNBLOCK goes out on it. */
  private peer: RedisNodeClient | null = null;
  /** On a cluster, the master `connection` talks to (`host:port`). */
  private address: string | null = null;
  /** The connection's CLIENT ID, so a blocked read can be ended from `peer`. */
  private id: number | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly stream: string,
    private readonly logger: Logger,
    private readonly name?: string,
  ) {}

  /**
   * The connection, ready. Rejects when it is not within `waitMs`, unless
   * `signal` aborted; on a cluster the failure asks for its layout again, so
   * a master that died is replaced by the replica that took over by the
   * time the reader tries again.
   */
  async ready(waitMs: number, signal: AbortSignal): Promise<RedisNodeClient> {
    try {
      const connection = await this.current(waitMs, signal);
      await whenReady(connection, waitMs, signal);
      return connection;
    } catch (error) {
      this.failed(error);
      throw error;
    }
  }

  /** The connection the last `ready` returned, for the commands that follow a read (XACK, XCLAIM). */
  get client(): RedisNodeClient {
    if (!this.connection) throw new Error('redis is not reachable');
    return this.connection;
  }

  /** The connection's CLIENT ID, asked once per connection; needed before a read blocks, for `unblock`. */
  async clientId(): Promise<number> {
    return (this.id ??= await this.client.clientId());
  }

  /** Ends a blocked read now, as if it had timed out. Best effort: if this fails, the read ends by itself. */
  unblock(): void {
    if (this.id === null || !this.peer?.isReady) return;
    this.peer.sendCommand(['CLIENT', 'UNBLOCK', String(this.id)]).catch(() => {});
  }

  /** After a command failed: on a cluster, the stream's slot may have moved (a failover, a reshard). */
  failed(error: unknown): void {
    if (!isCluster(this.redis)) return;
    this.logger.debug({ err: error }, 'event reader: asking the cluster where the stream is');
    void refreshTopology(this.redis, this.logger);
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = null;
    if (connection?.isReady) await connection.close().catch(() => connection.destroy());
    else if (connection?.isOpen) connection.destroy();
  }

  /** Drops the connection at once, and with it any read in flight. */
  destroy(): void {
    if (this.connection?.isOpen) this.connection.destroy();
  }

  private async current(waitMs: number, signal: AbortSignal): Promise<RedisNodeClient> {
    const redis = this.redis;
    if (!isCluster(redis)) return (this.connection ??= this.open(redis));
    if (!isRedisReady(redis)) {
      // Until the cluster client knows its layout, there is no telling which master to read from.
      await once(redis, 'connect', { signal: AbortSignal.any([signal, AbortSignal.timeout(waitMs)]) }).catch(() => {});
      if (!isRedisReady(redis)) throw new Error('redis is not reachable');
    }
    const master = masterOf(redis, this.stream);
    if (!master) throw new Error(`redis cluster: no master holds slot ${keySlot(this.stream)}`);
    if (this.connection && this.address === master.address) return this.connection;
    if (this.connection) {
      this.logger.info({ from: this.address, to: master.address }, 'event reader: the stream has a new master');
      this.destroy();
    }
    // The cluster's connection to that master: what this one is duplicated from, and never blocked.
    const peer = master.client ?? (await redis.nodeClient(master));
    this.address = master.address;
    return (this.connection = this.open(peer));
  }

  private open(peer: RedisNodeClient): RedisNodeClient {
    this.peer = peer;
    this.id = null;
    // No offline queue: while Redis is away a command fails at once and the loop backs off,
    // instead of commands piling up to run against whatever Redis comes back.
    const connection = peer.duplicate({
      disableOfflineQueue: true,
      ...(this.name === undefined ? {} : { name: this.name }),
    });
    // Without an 'error' listener node-redis crashes the process on a socket error.
    // The reading loop reports the failures that matter, once per streak.
    connection.on('error', (error: Error) => this.logger.debug({ err: error }, 'event reader: redis error'));
    // A reconnect is a new client on the server, with a new id.
    connection.on('ready', () => {
      if (this.connection === connection) this.id = null;
    });
    return connection;
  }
}

/** Resolves once `connection` is ready; rejects when it is not within `waitMs`, unless `signal` aborted. */
async function whenReady(connection: RedisNodeClient, waitMs: number, signal: AbortSignal): Promise<void> {
  if (connection.isReady) return;
  // connect() retries by itself (the client's reconnect strategy) and resolves when ready.
  if (!connection.isOpen) connection.connect().catch(() => {});
  await once(connection, 'ready', { signal: AbortSignal.any([signal, AbortSignal.timeout(waitMs)]) }).catch(() => {});
  if (!connection.isReady && !signal.aborted) throw new Error('redis is not reachable');
}

/**
 * Where the Redis bus keeps `stream`'s dead letters. A dead letter is added
 * in one MULTI with the XACK of its entry, which a cluster refuses for keys
 * of two slots (CROSSSLOT). So on a cluster it is `{<stream>}.dead`, whose
 * hash tag is the stream's name and whose slot is the stream's; the stream
 * itself keeps its name, so no other key changes. On one server it is
 * `deadLetterStream`'s `<stream>.dead`, as it always was, with nothing to migrate.
 */
export function deadLetterKey(redis: RedisClient, stream: string): string {
  const plain = deadLetterStream(stream);
  // A stream with a hash tag of its own already shares it with its dead letters.
  if (!isCluster(redis) || keySlot(plain) === keySlot(stream)) return plain;
  // `{a}b}.dead` would hash `a`: a name with a `}` cannot be a hash tag, and no other key is sure
  // to share its slot. Refused when its reader or stats ask, rather than dead letters that fail.
  if (stream.includes('}')) {
    throw new Error(
      `stream "${stream}": on a Redis Cluster a stream name may not hold "}" (its dead letters could not share its hash slot)`,
    );
  }
  return `{${stream}}.dead`;
}

/** A stream read's reply (XREAD, XREADGROUP). Loosely typed because RESP3 would shape it differently; the bus speaks RESP2. */
export type StreamsReply = Array<{ name: string; messages: Array<{ id: string; message: unknown }> }> | null;

export function isReplyError(error: unknown, prefix: string): boolean {
  return error instanceof Error && error.message.startsWith(prefix);
}
