import type postgres from 'postgres';
import { pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { RedisCache } from '../src/cache/redis.ts';
import type { Database } from '../src/db/database.ts';
import { ReadReplicas } from '../src/db/replicas.ts';
import { createLogger, type Logger } from '../src/logger.ts';
import { Metrics } from '../src/metrics.ts';

/**
 * Stand-ins for what read replicas run on, so that db/replicas.ts and the
 * plugin run without servers: postgres.js pools that answer the WAL
 * position queries from their own state, and any other select with their
 * name (so a test sees which server a request read from), and a Redis
 * that can be made to fail.
 */

/** The table every fake pool answers a select on with its own name. */
export const servedBy = pgTable('served_by', { server: text('server').notNull() });
export const fakeSchema = { servedBy };

/**
 * A postgres.js query: sent when first awaited, with `values()` chained on
 * it as drizzle does; `chained` records the calls, for a test that checks a
 * query sent again carries them.
 */
export class FakeQuery implements PromiseLike<unknown> {
  readonly chained: string[] = [];
  private answer: Promise<unknown> | undefined;

  constructor(private readonly run: () => Promise<unknown>) {}

  values(): this {
    this.chained.push('values');
    return this;
  }

  then<A = unknown, B = never>(
    onFulfilled?: ((value: unknown) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.answer ??= this.run();
    return this.answer.then(onFulfilled, onRejected);
  }
}

export const connectionRefused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

export interface FakePool {
  name: string;
  sql: postgres.Sql;
  /** Statements sent, by their text. */
  sent: string[];
  /** What `pg_last_wal_replay_lsn()` and `pg_current_wal_insert_lsn()` answer; an Error fails them. */
  lsn: string | null | Error;
  /** Every statement fails for want of a connection while set. */
  refusing: boolean;
  /** While set, the WAL position queries wait for it to resolve before they answer. */
  hold: Promise<void> | null;
  /** How many times a statement whose text contains `text` was sent. */
  count(text: string): number;
}

export function fakePool(name: string): FakePool {
  const pool: FakePool = {
    name,
    sent: [],
    lsn: '0/0',
    refusing: false,
    hold: null,
    count: (text) => pool.sent.filter((sent) => sent.includes(text)).length,
    sql: {
      // drizzle sets its parsers on the client it is given.
      options: { parsers: {}, serializers: {} },
      unsafe: (text: string) => {
        pool.sent.push(text);
        return new FakeQuery(async () => {
          if (pool.refusing) throw connectionRefused();
          if (!text.includes('_lsn()')) return [[name]];
          const hold = pool.hold;
          if (hold) await hold;
          if (pool.lsn instanceof Error) throw pool.lsn;
          return [{ lsn: pool.lsn }];
        });
      },
      end: async () => {},
    } as unknown as postgres.Sql,
  };
  return pool;
}

export function fakeDatabase(pool: FakePool): Database<typeof fakeSchema> {
  return drizzle({ client: pool.sql, schema: fakeSchema });
}

/** Which server answers a select through `db`. */
export async function whoServes(db: Database<typeof fakeSchema>): Promise<string> {
  const [row] = await db.select().from(servedBy);
  return row!.server;
}

export interface FakeReadReplicasOptions {
  windowMs?: number;
}

/** `ReadReplicas` over fake pools, with its metrics and log at hand. */
export function fakeReadReplicas(names: string[], { windowMs = 60_000 }: FakeReadReplicasOptions = {}) {
  const primary = fakePool('primary');
  const replicaPools = names.map(fakePool);
  const metrics = new Metrics();
  const log: Array<Record<string, unknown>> = [];
  const logger: Logger = createLogger({
    service: 'test',
    destination: { write: (line: string) => void log.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const primaryDb = fakeDatabase(primary);
  const replicas = new ReadReplicas({
    primary: { db: primaryDb, sql: primary.sql },
    replicas: replicaPools.map((pool) => ({ location: pool.name, sql: pool.sql })),
    schema: fakeSchema,
    readYourWritesWindowMs: windowMs,
    metrics,
    logger,
  });
  /** Requests counted by `db_read_requests_total` with this target and reason. */
  const reads = async (target: string, reason: string) => {
    const { values } = await metrics.registry.getSingleMetric('db_read_requests_total')!.get();
    return values.find(({ labels }) => labels.target === target && labels.reason === reason)?.value ?? 0;
  };
  return { primary, primaryDb, replicaPools, replicas, reads, log, logger };
}

/**
 * A Redis as the read-your-writes records use it: `run` answers undefined
 * while it is `down`, as RedisCache's does when a command fails or times
 * out, and counts its calls.
 */
export function fakeRedis() {
  const keys = new Map<string, string>();
  const state = { down: false, keys, commands: 0 };
  const client = {
    get: async (key: string) => keys.get(key) ?? null,
    eval: async (_script: string, { keys: [key], arguments: [position] }: { keys: string[]; arguments: string[] }) => {
      const known = keys.get(key!);
      if (!known || known < position!) keys.set(key!, position!);
      return 1;
    },
  };
  const redis = {
    run: async <T>(command: (redisClient: typeof client) => Promise<T>) => {
      state.commands++;
      return state.down ? undefined : command(client);
    },
  } as unknown as RedisCache;
  return { redis, state };
}
