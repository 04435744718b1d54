import { LRUCache } from 'lru-cache';
import type { RedisCache } from '../cache/redis.ts';

/**
 * Which signed-in callers wrote within a bounded window, and where their
 * last write ended in the primary's WAL: read-your-writes (replicas.ts)
 * sends such a caller to a replica only once it has replayed all the
 * primary had when their request began. That the record is there is what
 * matters most; its position is a floor under the primary's, whose reading
 * may be a few ms older than the caller's last write.
 */

/** What is known of a caller's last write. */
export type RecentWrite =
  /** None within the window: any replica will do. */
  | { kind: 'none' }
  /** One within the window; the primary's WAL position just after it committed. */
  | { kind: 'at'; position: bigint }
  /** The record could not be read (Redis failed or is not connected yet). */
  | { kind: 'unknown' };

export interface RecentWrites {
  lastWriteOf(caller: string): Promise<RecentWrite>;
  /**
   * Records that `caller` wrote up to `position`, for the window from now.
   * A record already further on is kept: two writes by one caller may
   * record out of order. Resolves false when the record could not be
   * written where every instance sees it, for the caller to log.
   */
  record(caller: string, position: bigint): Promise<boolean>;
}

/**
 * A Postgres LSN (`16/B374D848`: the high and low 32 bits, in hex) as one
 * number, so that positions compare as numbers.
 */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn);
  if (!match) throw new Error(`not a Postgres LSN: ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Callers remembered at once by `inProcessRecentWrites`: about 100 B each, 10 MB in all. */
const defaultMaxCallers = 100_000;

export interface InProcessRecentWritesOptions {
  windowMs: number;
  /**
   * Callers remembered at once; past it, the least recently written-for is
   * forgotten early, and may read their past from a replica. Default: 100,000.
   */
  maxCallers?: number;
}

/**
 * Records in this process: for a subgraph without Redis. Another instance
 * of the subgraph does not see them, so a caller whose next request lands
 * elsewhere may read from a replica that is behind; run with Redis where a
 * subgraph has several instances.
 */
export function inProcessRecentWrites({
  windowMs,
  maxCallers = defaultMaxCallers,
}: InProcessRecentWritesOptions): RecentWrites {
  const positions = inProcessPositions(windowMs, maxCallers);
  return {
    lastWriteOf: async (caller) => {
      const position = positions.get(caller);
      return position === undefined ? { kind: 'none' } : { kind: 'at', position };
    },
    record: async (caller, position) => {
      positions.record(caller, position);
      return true;
    },
  };
}

/** Each caller's latest position, for the window from their latest record; the least recently written-for go first. */
function inProcessPositions(windowMs: number, maxCallers: number) {
  // `set` starts an entry's time to live again, so each record restarts the window.
  const positions = new LRUCache<string, bigint>({ max: maxCallers, ttl: windowMs });
  return {
    get: (caller: string) => positions.get(caller),
    record(caller: string, position: bigint): void {
      const known = positions.get(caller);
      positions.set(caller, known !== undefined && known > position ? known : position);
    },
  };
}

export interface RedisRecentWritesOptions {
  /** The subgraph's Redis once it is connected; null until then, and every lookup meanwhile is `unknown`. */
  redis: () => RedisCache | null;
  /** Part of the key, so subgraphs sharing a Redis keep their callers' positions apart. */
  subgraph: string;
  windowMs: number;
  /** Callers whose records this process also keeps at once; as `inProcessRecentWrites`'s. Default: 100,000. */
  maxCallers?: number;
}

/**
 * Keeps the later of the recorded and the new position, and restarts the
 * window. Positions are stored as 16 hex digits, so comparing them as
 * strings compares them as numbers.
 */
const recordLaterPosition = `
local known = redis.call('GET', KEYS[1])
local position = ARGV[1]
if known and string.len(known) == string.len(position) and known > position then position = known end
redis.call('SET', KEYS[1], position, 'PX', ARGV[2])
return 1
`;

function later(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  return b !== undefined && b > a ? b : a;
}

/** Key of a caller's record: `ryw:<subgraph>:<caller id>`. */
export function recentWriteKey(subgraph: string, caller: string): string {
  return `ryw:${subgraph}:${caller}`;
}

/**
 * Records in Redis, where every instance of the subgraph sees them: the
 * caller's next request may land on any of them. A failed lookup is
 * `unknown`, not `none`, so the request reads from the primary: while
 * Redis is away, reads lose the replicas' capacity rather than their
 * consistency.
 *
 * Each record is kept in this process too, and a lookup takes the later of
 * the two: a record that Redis failed to take (a blip, a timeout, Redis
 * not connected yet at start) would otherwise be "no record" once Redis
 * answers again, and the caller's next request here would read a replica
 * within the window. Another instance still misses such a record: that is
 * what the warning about unrecorded positions is for.
 */
export function redisRecentWrites({
  redis,
  subgraph,
  windowMs,
  maxCallers = defaultMaxCallers,
}: RedisRecentWritesOptions): RecentWrites {
  const here = inProcessPositions(windowMs, maxCallers);
  return {
    lastWriteOf: async (caller) => {
      // `run` answers undefined when Redis failed, and GET answers null for a key that is not there.
      const key = recentWriteKey(subgraph, caller);
      // With `key`, a cluster whose master for it is down answers at once rather than at the timeout.
      const stored = await redis()?.run((client) => client.get(key), { key });
      if (stored === undefined) return { kind: 'unknown' };
      if (stored !== null && !/^[0-9a-f]{16}$/.test(stored)) return { kind: 'unknown' };
      const position = later(stored === null ? undefined : BigInt(`0x${stored}`), here.get(caller));
      return position === undefined ? { kind: 'none' } : { kind: 'at', position };
    },
    record: async (caller, position) => {
      here.record(caller, position);
      const key = recentWriteKey(subgraph, caller);
      const recorded = await redis()?.run(
        (client) =>
          client.eval(recordLaterPosition, {
            keys: [key],
            arguments: [position.toString(16).padStart(16, '0'), String(windowMs)],
          }),
        { key },
      );
      return recorded !== undefined;
    },
  };
}
