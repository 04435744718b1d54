import { isCluster, isRedisReady, refreshTopology, type RedisClient, type RedisNodeClient } from '../cache/redis.ts';
import type { Logger } from '../logger.ts';
import { decodeDeadLetter, decodeEvent, encodeDeadLetter, encodeEvent, type EntryFields } from './codec.ts';
import { runSubscription, trackedIn, type Delivery, type GroupReader } from './consumer.ts';
import { deadLetterKey, DedicatedConnection, isReplyError, type StreamsReply } from './redis-connection.ts';
import { RedisTailReaders } from './redis-tail.ts';
import { openTail } from './tail.ts';
import {
  type DeadLetter,
  type DomainEvent,
  type EventBus,
  type EventBusStats,
  type EventTail,
  type SubscribeOptions,
  type Subscription,
  type TailOptions,
} from './types.ts';

export interface RedisStreamsBusOptions {
  /**
   * Publishes, reads stats and replays tails: one server's client or a
   * cluster's. It stays the caller's: `close()` leaves it open. Each
   * subscription reads on a connection of its own, duplicated from it (on a
   * cluster, from its connection to the master of the stream's slot),
   * because a blocking XREADGROUP holds its connection until it returns; so
   * do the tails of a stream, all of them on one.
   */
  redis: RedisClient;
  logger: Logger;
  /**
   * Approximate cap on each stream's length (`XADD ... MAXLEN ~`), so a
   * stream nobody reads cannot fill Redis. Trimming drops the oldest entries
   * whether or not every group has read them, so it must stay well above the
   * largest lag you tolerate; `stats().lag` is there to alert before that.
   * Default: 100,000.
   */
  maxLen?: number;
  /** The same cap for the dead letters, `<stream>.dead` (`{<stream>}.dead` on a cluster). Default: 10,000. */
  deadLetterMaxLen?: number;
  /**
   * An entry delivered and not acknowledged for this long is taken over
   * (XAUTOCLAIM) by whichever consumer of the group looks next: that is how
   * the events of a consumer that died are not stranded. It must exceed the
   * slowest handler, or a slow handler's event is handled twice. Default: 30,000 ms.
   */
  claimIdleMs?: number;
  /** How often each consumer looks for entries to take over. Default: 1,000 ms. */
  claimIntervalMs?: number;
  /** Redelivery delay after a handler's first failure, doubling with each further one, at most `claimIdleMs`. Default: 500 ms. */
  retryDelayMs?: number;
  /** Longest wait for publish and stats. Default: 2,000 ms. */
  commandTimeoutMs?: number;
}

/**
 * An `EventBus` on Redis Streams. Each stream is one Redis stream; each group
 * a consumer group (created on first subscribe, reading from the start of
 * what the stream holds); delivery is at least once:
 *
 * - an event is acknowledged (XACK) only after its handler resolves;
 * - a failed event stays pending and is made claimable again after a backoff
 *   (XCLAIM ... IDLE), so any consumer of the group retries it, and the retry
 *   survives this process dying;
 * - entries idle longer than `claimIdleMs` are taken over (XAUTOCLAIM),
 *   which rescues the events of a consumer that died mid-batch;
 * - Redis's own delivery counter is the attempt number, so after
 *   `maxAttempts` the entry moves to `<stream>.dead` with the reason, in one
 *   MULTI with its XACK (on a cluster to `{<stream>}.dead`, in the stream's
 *   slot, where the MULTI may go: redis-connection.ts `deadLetterKey`).
 *
 * Tails (`tail`) read a stream without a group: every tail gets every
 * entry. However many tails a stream has in this process, one blocking
 * XREAD reads it for all of them (redis-tail.ts).
 *
 * Redis being down or restarting never throws out of a subscription or a
 * tail: reads back off and resume, and a group lost with Redis's data is
 * created again. `publish` and `stats` do reject, within `commandTimeoutMs`.
 * On a cluster the same holds for the master of a stream's slot, and once a
 * replica has taken over from a master that died, reads resume on it.
 */
export class RedisStreamsBus implements EventBus {
  private readonly redis: RedisClient;
  private readonly logger: Logger;
  private readonly settings: Required<Omit<RedisStreamsBusOptions, 'redis' | 'logger'>>;
  private readonly subscriptions = new Set<Subscription>();
  private readonly tails = new Set<EventTail>();
  private readonly tailReaders: RedisTailReaders;

  constructor({
    redis,
    logger,
    maxLen = 100_000,
    deadLetterMaxLen = 10_000,
    claimIdleMs = 30_000,
    claimIntervalMs = 1_000,
    retryDelayMs = 500,
    commandTimeoutMs = 2_000,
  }: RedisStreamsBusOptions) {
    this.redis = redis;
    this.logger = logger.child({ component: 'events', bus: 'redis' });
    this.settings = { maxLen, deadLetterMaxLen, claimIdleMs, claimIntervalMs, retryDelayMs, commandTimeoutMs };
    this.tailReaders = new RedisTailReaders({
      redis,
      logger: this.logger,
      command: (run, stream) => this.command(run, stream),
    });
  }

  async publish(stream: string, events: readonly DomainEvent[]): Promise<void> {
    const entries = events.map(encodeEvent);
    if (entries.length === 0) return;
    // MULTI: a batch lands whole or not at all, so a retry after a failure never splits it.
    const multi = this.redis.multi();
    for (const fields of entries) multi.xAdd(stream, '*', fields, trimTo(this.settings.maxLen));
    await this.command(() => multi.exec(), stream);
  }

  subscribe(options: SubscribeOptions): Subscription {
    const log = this.logger.child({ stream: options.stream, group: options.group, consumer: options.consumer });
    const reader = new RedisGroupReader(this.redis, options, this.settings, log);
    return trackedIn(
      this.subscriptions,
      runSubscription(
        reader,
        options,
        { retryDelayMs: this.settings.retryDelayMs, maxRetryDelayMs: this.settings.claimIdleMs },
        this.logger,
      ),
    );
  }

  tail(options: TailOptions): EventTail {
    return openTail(this.tailReaders.source(options.stream), options, this.tails, this.logger);
  }

  /**
   * `pending`: delivered to the group, not yet acknowledged. `lag`: not yet
   * delivered to the group (XINFO GROUPS; `null` when Redis cannot tell,
   * after entries were deleted from the middle of the stream); for a group
   * that does not exist yet, everything the stream holds.
   */
  async stats(stream: string, group: string): Promise<EventBusStats> {
    return this.command(async () => {
      const [length, deadLetters, groups] = await Promise.all([
        this.redis.xLen(stream),
        this.redis.xLen(deadLetterKey(this.redis, stream)),
        this.redis.xInfoGroups(stream).catch((error: unknown) => {
          if (isReplyError(error, 'ERR no such key')) return [];
          throw error;
        }),
      ]);
      const info = groups.find((candidate) => String(candidate.name) === group);
      if (!info) return { length, pending: 0, lag: length, deadLetters };
      const lag = info.lag as number | null | undefined;
      return {
        length,
        pending: Number(info.pending),
        lag: lag === null || lag === undefined ? null : Number(lag),
        deadLetters,
      };
    });
  }

  /** The newest `count` dead letters of `stream`, oldest first. */
  async readDeadLetters(stream: string, count = 100): Promise<DeadLetter[]> {
    const entries = await this.command(() =>
      this.redis.xRevRange(deadLetterKey(this.redis, stream), '+', '-', { COUNT: count }),
    );
    return entries.reverse().map((entry) => decodeDeadLetter(entry.message as EntryFields));
  }

  /** Stops every subscription and tail and closes their connections; the client passed in stays open. */
  async close(): Promise<void> {
    await Promise.all([
      ...[...this.subscriptions].map((subscription) => subscription.stop()),
      // The last tail of a stream to close stops the stream's reader.
      ...[...this.tails].map((tail) => tail.close()),
    ]);
  }

  /**
   * Fails at once when Redis is not connected (on a cluster: the master of
   * `key`, when given, is not), and after `commandTimeoutMs` when it does not
   * answer. On a cluster a failure asks for its layout again: the master may
   * have died, and the next attempt should find the replica that took over.
   */
  private async command<T>(run: () => Promise<T>, key?: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!isRedisReady(this.redis, key)) throw new Error('redis is not connected');
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`redis did not answer within ${this.settings.commandTimeoutMs} ms`)),
            this.settings.commandTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      if (isCluster(this.redis)) void refreshTopology(this.redis, this.logger);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

type Settings = Required<Omit<RedisStreamsBusOptions, 'redis' | 'logger'>>;

class RedisGroupReader implements GroupReader {
  /** This subscription's own connection: its reads block it. */
  private readonly connection: DedicatedConnection;
  private readonly stream: string;
  private readonly deadLetters: string;
  private readonly group: string;
  private readonly consumer: string;
  private groupExists = false;
  /** Where the next XAUTOCLAIM scan of the group's pending entries starts. */
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  private blocked = false;

  constructor(
    redis: RedisClient,
    options: SubscribeOptions,
    private readonly settings: Settings,
    logger: Logger,
  ) {
    ({ stream: this.stream, group: this.group, consumer: this.consumer } = options);
    this.deadLetters = deadLetterKey(redis, this.stream);
    this.connection = new DedicatedConnection(redis, this.stream, logger);
  }

  async read(batchSize: number, blockMs: number, signal: AbortSignal): Promise<Delivery[]> {
    const connection = await this.connection.ready(blockMs, signal);
    if (signal.aborted) return [];
    try {
      if (!this.groupExists) await this.createGroup(connection);
      if (Date.now() >= this.nextClaimAt) {
        const claimed = await this.claim(connection, batchSize);
        if (claimed.length > 0 || signal.aborted) return claimed;
      }
      // Known before the read blocks, so that `stop` can end it from another connection.
      await this.connection.clientId();
      // Wake up in time for the next scan for entries to take over (redeliveries among them).
      const block = Math.max(1, Math.min(blockMs, this.nextClaimAt - Date.now()));
      const unblock = () => this.unblock();
      signal.addEventListener('abort', unblock, { once: true });
      this.blocked = true;
      try {
        const reply = (await connection.xReadGroup(
          this.group,
          this.consumer,
          { key: this.stream, id: '>' },
          { COUNT: batchSize, BLOCK: block },
        )) as StreamsReply;
        return (reply ?? []).flatMap((stream) =>
          stream.messages.map((message) => delivery(message.id, message.message as EntryFields, 1)),
        );
      } finally {
        this.blocked = false;
        signal.removeEventListener('abort', unblock);
      }
    } catch (error) {
      // Redis may have restarted without its data, or a replica that took over may lack the group:
      // recreate the group, rescan from the start.
      if (isReplyError(error, 'NOGROUP') || !connection.isReady) this.groupExists = false;
      this.claimCursor = '0-0';
      this.connection.failed(error);
      throw error;
    }
  }

  async ack(entry: Delivery): Promise<void> {
    await this.connection.client.xAck(this.stream, this.group, entry.entryId);
  }

  async retryLater(entry: Delivery, delayMs: number): Promise<void> {
    // Backdating its last delivery makes the entry claimable in `delayMs` rather than
    // `claimIdleMs`, by any consumer of the group, even if this process dies meanwhile.
    // RETRYCOUNT with JUSTID keeps the delivery counter where it is.
    await this.connection.client.xClaimJustId(this.stream, this.group, this.consumer, 0, entry.entryId, {
      IDLE: Math.max(0, this.settings.claimIdleMs - delayMs),
      RETRYCOUNT: entry.attempt,
    });
    this.claimCursor = '0-0';
    this.nextClaimAt = Math.min(this.nextClaimAt, Date.now() + delayMs);
  }

  async deadLetter(entry: Delivery, reason: string): Promise<void> {
    const fields = encodeDeadLetter(entry.fields, {
      reason,
      attempts: entry.attempt,
      group: this.group,
      consumer: this.consumer,
    });
    await this.connection.client
      .multi()
      .xAdd(this.deadLetters, '*', fields, trimTo(this.settings.deadLetterMaxLen))
      .xAck(this.stream, this.group, entry.entryId)
      .exec();
  }

  async release(entries: readonly Delivery[]): Promise<void> {
    const connection = this.connection.client;
    // Claimable at once, and the delivery that never reached a handler is not counted.
    await Promise.all(
      entries.map((entry) =>
        connection.xClaimJustId(this.stream, this.group, this.consumer, 0, entry.entryId, {
          IDLE: this.settings.claimIdleMs,
          RETRYCOUNT: entry.attempt - 1,
        }),
      ),
    );
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  private async createGroup(connection: RedisNodeClient): Promise<void> {
    try {
      // From 0: a new group reads whatever the stream still holds, so events published
      // before its first consumer started are not missed.
      await connection.xGroupCreate(this.stream, this.group, '0', { MKSTREAM: true });
    } catch (error) {
      if (!isReplyError(error, 'BUSYGROUP')) throw error;
    }
    this.groupExists = true;
  }

  /** Takes over entries of the group idle for `claimIdleMs`: a dead consumer's, or failed ones now due. */
  private async claim(connection: RedisNodeClient, count: number): Promise<Delivery[]> {
    const { nextId, messages } = await connection.xAutoClaim(
      this.stream,
      this.group,
      this.consumer,
      this.settings.claimIdleMs,
      this.claimCursor,
      { COUNT: count },
    );
    this.claimCursor = nextId;
    // A cursor back at 0-0 means the scan is complete; otherwise keep scanning next time.
    this.nextClaimAt = nextId === '0-0' ? Date.now() + this.settings.claimIntervalMs : Date.now();
    const claimed = messages.filter((message) => message !== null);
    if (claimed.length === 0) return [];
    // XAUTOCLAIM counts the delivery but does not say the count; XPENDING does. The
    // commands go out in one round trip (node-redis pipelines what is sent in one tick).
    const counts = await Promise.all(
      claimed.map((message) =>
        connection.xPendingRange(this.stream, this.group, message.id, message.id, 1, { consumer: this.consumer }),
      ),
    );
    return claimed.map((message, index) =>
      delivery(message.id, message.message as EntryFields, counts[index]?.[0]?.deliveriesCounter ?? 1),
    );
  }

  private unblock(): void {
    // The blocked XREADGROUP returns as if it had timed out.
    if (this.blocked) this.connection.unblock();
  }
}

function delivery(entryId: string, fields: EntryFields, attempt: number): Delivery {
  return { entryId, fields, event: decodeEvent(fields), attempt };
}

function trimTo(threshold: number) {
  // `~` lets Redis trim whole macro nodes, which costs next to nothing; exact trimming does not.
  return { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold } } as const;
}
