import type { MultiErrorReply } from 'redis';
import { redisModule, type RedisClient } from '../cache/redis.ts';
import type { Logger } from '../logger.ts';
import type { EntryFields } from './codec.ts';
import { DedicatedConnection, isReplyError, type StreamsReply } from './redis-connection.ts';
import {
  comparePositions,
  gapAfter,
  LiveFanOut,
  RetryStreak,
  type LiveTail,
  type ReplayPage,
  type StreamHistory,
  type TailSource,
} from './tail.ts';

/**
 * Tails on Redis Streams. A GraphQL subscription is a tail, and a thousand
 * of them may read one stream: if each blocked a connection of its own in
 * XREAD, Redis would hold a thousand connections for one stream's worth of
 * entries. So each stream with tails in this process has one reader, a
 * blocking XREAD loop on a connection of its own, which hands each entry to
 * every tail in memory. It starts with the stream's first tail and stops
 * with its last. On a cluster that connection goes to the master of the
 * stream's slot, and follows the slot to a replica that takes over.
 *
 * Replays do not block: they read pages with XRANGE on the bus's shared
 * connection, each in one MULTI with XINFO STREAM, so that whether the stream
 * still holds everything after the page's start is known for that very read.
 */

/** Entries one XREAD takes at most: a burst is handed out in slices rather than in one huge reply. */
const liveReadCount = 1_000;

export interface RedisTailReadersOptions {
  /** The bus's connection (a server's or a cluster's), never blocked: replays read on it. */
  redis: RedisClient;
  logger: Logger;
  /** The bus's way of sending a command on `stream`: failing fast when Redis (its master) is away, and within its timeout. */
  command<T>(run: () => Promise<T>, stream: string): Promise<T>;
}

/** One bus's stream readers, one per stream that has tails. */
export class RedisTailReaders {
  private readonly readers = new Map<string, StreamReader>();

  constructor(private readonly options: RedisTailReadersOptions) {}

  source(stream: string): TailSource {
    const { redis, command } = this.options;
    return {
      stream,
      newest: () => command(async () => (await readPage(redis, stream, null, 0)).history.newest, stream),
      read: (after, count) =>
        command(async () => {
          const { history, entries } = await readPage(redis, stream, after, count);
          const gap = gapAfter(after, history);
          return { entries: gap === null ? entries : [], gap } satisfies ReplayPage;
        }, stream),
      join: (tail, caughtUpTo) => this.join(stream, tail, caughtUpTo),
      leave: (tail) => this.leave(stream, tail),
    };
  }

  private join(stream: string, tail: LiveTail, caughtUpTo: string): boolean {
    let reader = this.readers.get(stream);
    if (!reader) {
      // The stream's first tail: its reader starts where that tail has read up to.
      reader = new StreamReader(this.options.redis, stream, caughtUpTo, this.options.logger.child({ stream }));
      this.readers.set(stream, reader);
    }
    if (comparePositions(reader.live.position, caughtUpTo) > 0) return false;
    reader.live.add(tail);
    return true;
  }

  private async leave(stream: string, tail: LiveTail): Promise<void> {
    const reader = this.readers.get(stream);
    if (!reader?.live.delete(tail) || reader.live.size > 0) return;
    // Out of the map at once: a tail joining from now on starts a reader of its own.
    this.readers.delete(stream);
    await reader.stop();
  }
}

/** The blocking XREAD loop of one stream, handing entries to its tails. */
class StreamReader {
  readonly live: LiveFanOut;
  private readonly connection: DedicatedConnection;
  private readonly stopping = new AbortController();
  private readonly done: Promise<void>;

  constructor(
    control: RedisClient,
    private readonly stream: string,
    position: string,
    private readonly logger: Logger,
  ) {
    this.live = new LiveFanOut(position, logger);
    this.connection = new DedicatedConnection(control, stream, logger, connectionName(stream));
    this.done = this.loop().catch((error: unknown) =>
      this.logger.error({ err: error }, 'event tail: reader stopped by an unexpected error'),
    );
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    // The read in flight is of no use to anyone: dropping the connection ends it now rather than within blockMs.
    this.connection.destroy();
    await this.done;
    // And whatever the loop's last turn may have opened again meanwhile.
    await this.connection.close();
  }

  private async loop(): Promise<void> {
    const { signal } = this.stopping;
    const streak = new RetryStreak(this.logger, 'reading the stream');
    while (!signal.aborted) {
      try {
        const connection = await this.connection.ready(this.live.blockMs, signal);
        if (signal.aborted) break;
        // From the last entry handed out, never `$`: entries appended between two reads are read by the next.
        // Trimming could only take entries from under it if the stream grew by more than its
        // maxLen between two reads.
        const reply = (await connection.xRead(
          { key: this.stream, id: this.live.position },
          { COUNT: liveReadCount, BLOCK: this.live.blockMs },
        )) as StreamsReply;
        streak.worked();
        if (signal.aborted) break;
        for (const { messages } of reply ?? []) {
          for (const { id, message } of messages) this.live.deliver({ position: id, fields: message as EntryFields });
        }
      } catch (error) {
        if (signal.aborted) break;
        this.connection.failed(error);
        await streak.failed(error, signal);
      }
    }
  }
}

/** `events-tail:<stream>` in CLIENT LIST, where a client name may have no spaces or special characters. */
function connectionName(stream: string): string {
  return `events-tail:${stream.replace(/[^!-~]/g, '_')}`;
}

const largestId = '18446744073709551615-18446744073709551615';

/** XINFO STREAM's reply, as much of it as a tail needs (RESP2). */
interface StreamInfo {
  length: number;
  'last-generated-id': string;
  /** Since Redis 7. */
  'entries-added'?: number;
  'first-entry': { id: string } | null;
}

/**
 * The first `count` entries after `after` (none for `null`), with what the
 * stream says of its history at that same moment (one MULTI): so a trim
 * between the two cannot hide a gap.
 */
async function readPage(
  redis: RedisClient,
  stream: string,
  after: string | null,
  count: number,
): Promise<{ history: StreamHistory; entries: Array<{ position: string; fields: EntryFields }> }> {
  const multi = redis.multi().xInfoStream(stream);
  // Exclusive start, `(` (Redis 6.2+); which Redis refuses for the largest id, after which nothing can come.
  if (after !== null && after !== largestId) multi.xRange(stream, `(${after}`, '+', { COUNT: count });
  let info: StreamInfo | null;
  let range: Array<{ id: string; message: unknown }>;
  try {
    const replies = await multi.exec();
    info = replies[0] as unknown as StreamInfo;
    range = (replies[1] ?? []) as Array<{ id: string; message: unknown }>;
  } catch (error) {
    // A stream that does not exist (yet, or any more) is an empty one that never had an entry.
    if (!(error instanceof redisModule().MultiErrorReply) || !isNoSuchKeyOnly(error)) throw error;
    info = null;
    range = (error.replies[1] ?? []) as unknown as Array<{ id: string; message: unknown }>;
  }
  return {
    history: info ? historyOf(info) : { newest: '0-0', completeAfter: '0-0' },
    entries: range.map(({ id, message }) => ({ position: id, fields: message as EntryFields })),
  };
}

function isNoSuchKeyOnly(error: MultiErrorReply): boolean {
  return (
    error.errorIndexes.length === 1 && error.errorIndexes[0] === 0 && isReplyError(error.replies[0], 'ERR no such key')
  );
}

function historyOf(info: StreamInfo): StreamHistory {
  const newest = info['last-generated-id'];
  // Redis before 7 does not count what it added: assume entries were removed.
  const everRemoved = info['entries-added'] === undefined || info['entries-added'] > info.length;
  if (!everRemoved) return { newest, completeAfter: '0-0' };
  // Trimming drops the oldest entries, so everything from the oldest one kept is still
  // there. Redis does not say which entry went last, so a position between that one and
  // the oldest kept counts as trimmed past too: a needless refetch at worst, never a gap.
  return { newest, completeAfter: info['first-entry']?.id ?? newest };
}
