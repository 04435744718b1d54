import { LRUCache } from 'lru-cache';
import type { RedisCache } from '../cache/redis.ts';

/**
 * Where each signed-in caller's last write ended in the primary's WAL, for
 * a bounded window after it: what read-your-writes compares a replica's
 * replay position with (replicas.ts).
 */

/** What is known of a caller's last write. */
export type RecentWrite =
  /** None within the window: any replica will do. */
  | { kind: 'none' }
  /** The primary's WAL position just after it committed. */
  | { kind: 'at'; position: bigint }
  /** The record could not be read (Redis failed or is not connected yet). */
  | { kind: 'unknown' };

export interface RecentWrites {
  lastWriteOf(caller: string): Promise<RecentWrite>;
  /**
   * Records that `caller` wrote up to `position`, for the window from now.
   * A record already further on is kept: two writes by one caller may
   * record out of order. Resolves false when the record could not be
   * written, for the caller to log.
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
  const positions = new LRUCache<string, bigint>({ max: maxCallers, ttl: windowMs });
  return {
    lastWriteOf: async (caller) => {
      const position = positions.get(caller);
      return position === undefined ? { kind: 'none' } : { kind: 'at', position };
    },
    record: async (caller, position) => {
      const known = positions.get(caller);
      positions.set(caller, known !== undefined && known > position ? known : position);
      return true;
    },
  };
}

export interface RedisRecentWritesOptions {
  /** The subgraph's Redis once it is connected; null until then, and every lookup meanwhile is `unknown`. */
  redis: () => RedisCache | null;
  /** Part of the key, so subgraphs sharing a Redis keep their callers' positions apart. */
  subgraph: string;
  windowMs: number;
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
 */
export function redisRecentWrites({ redis, subgraph, windowMs }: RedisRecentWritesOptions): RecentWrites {
  return {
    lastWriteOf: async (caller) => {
      // `run` answers undefined when Redis failed, and GET answers null for a key that is not there.
      const stored = await redis()?.run((client) => client.get(recentWriteKey(subgraph, caller)));
      if (stored === undefined) return { kind: 'unknown' };
      if (stored === null) return { kind: 'none' };
      return /^[0-9a-f]{16}$/.test(stored) ? { kind: 'at', position: BigInt(`0x${stored}`) } : { kind: 'unknown' };
    },
    record: async (caller, position) => {
      const recorded = await redis()?.run((client) =>
        client.eval(recordLaterPosition, {
          keys: [recentWriteKey(subgraph, caller)],
          arguments: [position.toString(16).padStart(16, '0'), String(windowMs)],
        }),
      );
      return recorded !== undefined;
    },
  };
}
