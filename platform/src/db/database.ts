import { mkdir } from 'node:fs/promises';
import type { PGlite } from '@electric-sql/pglite';
import { SpanKind } from '@opentelemetry/api';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTable } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { assertNever } from '../assert.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { postgresLocation } from '../progress.ts';
import { inChildSpan, inTracedWork } from '../tracing.ts';
import { lockDirectory, type DirectoryLock } from './directory-lock.ts';
import { DatabaseMetrics } from './metrics.ts';
import { withMigrationLock, type MigrationLockOptions } from './migration-lock.ts';
import { ReadReplicas, type ReadReplicaSettings } from './replicas.ts';

export type DrizzleSchema = Record<string, unknown>;

/** A drizzle database on either driver; subgraph code never needs to know which. */
export type Database<TSchema extends DrizzleSchema> = PgDatabase<PgQueryResultHKT, TSchema>;

/** postgres.js's own default pool size. */
export const defaultPoolMax = 10;

/** Where a subgraph keeps its data. */
export type DatabaseTarget =
  | {
      kind: 'postgres';
      url: string;
      /** Pool size. Default: `defaultPoolMax`. */
      poolMax?: number;
      /**
       * Postgres's `statement_timeout` and `idle_in_transaction_session_timeout`
       * for the serving pool's sessions, in ms; 0 or absent sends none (the
       * role's or database's own setting applies). Migrations run on a
       * session of their own, without them.
       */
      statementTimeoutMs?: number;
      idleInTransactionTimeoutMs?: number;
      /**
       * Streaming replicas that serve the subgraph's reads (replicas.ts),
       * each with a pool like the primary's: the same size and timeouts.
       * Default: none, every statement goes to `url`.
       */
      replicas?: ReadReplicaSettings;
    }
  | {
      kind: 'pglite';
      /** Folder for the embedded database; `null` keeps it in memory. */
      dataDir: string | null;
    };

export interface DatabaseHandle<TSchema extends DrizzleSchema> {
  /** The primary: background work, migrations, the seed and subscriptions always use it. */
  readonly db: Database<TSchema>;
  readonly kind: DatabaseTarget['kind'];
  /** Where a request's reads may go instead; null without replicas. */
  readonly replicas: ReadReplicas<TSchema> | null;
  /**
   * Statements the driver has sent since the database was opened. Counted
   * below drizzle, so nothing an ORM layer batches or hides escapes it.
   */
  statementCount(): number;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /**
   * Applies drizzle-kit migrations from `folder` that have not run yet,
   * one migrator at a time per database: on Postgres it first waits for
   * any other migrator of the database to finish (migration-lock.ts).
   */
  migrate(folder: string, options?: MigrationLockOptions): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Where statement durations and pool use are recorded (db/metrics.ts). Default: nowhere. */
  metrics?: Metrics | null;
  /** Told when a read replica becomes unreachable, and when it answers again. Default: no one. */
  logger?: Logger | null;
}

/**
 * Postgres settings of every embedded database. Its default 128 MB of
 * shared buffers are written at start, so each PGlite costs that much
 * resident memory before any data (about 250 MB in all, measured); with
 * 16 MB it costs about 60 MB, and five of them fit in one process (see
 * scripts/dev/graph-host.ts). Reads past the buffers come from the OS page
 * cache, so a development-sized database loses little: the embedded
 * database serves one developer, not load.
 */
export const embeddedPostgresSettings = ['shared_buffers=16MB'];

/** Connect timeout: an unreachable database becomes an error in seconds, not a hung request. */
const connectTimeoutSeconds = 5;

/**
 * Seconds before a pooled connection reconnects after its `attempt`-th
 * failure. postgres.js's default grows to 20 s, and a query waiting for that
 * connection waits as long: after a database restart, requests would stall
 * long after the database is back. Capped at 1 s, jittered so a pool does not
 * reconnect in lockstep.
 */
export function reconnectBackoffSeconds(attempt: number): number {
  return Math.min(0.05 * 2 ** attempt, 1) * (0.5 + Math.random() / 2);
}

export async function openDatabase<TSchema extends DrizzleSchema>(
  target: DatabaseTarget,
  schema: TSchema,
  { metrics = null, logger = null }: OpenDatabaseOptions = {},
): Promise<DatabaseHandle<TSchema>> {
  switch (target.kind) {
    case 'postgres':
      return openPostgres(target, schema, metrics, logger);
    case 'pglite':
      return openPglite(target, schema, metrics);
    default:
      return assertNever(target, 'database target');
  }
}

/**
 * Startup parameters that bound what one session may hold: a statement
 * that outlives the router's wait for its answer serves nobody and holds a
 * connection, and a transaction left idle (a request that stopped between
 * two statements) holds its locks. A pooler in transaction mode (PgBouncer)
 * refuses startup parameters it does not know: there, set 0 and put them on
 * the role instead (`ALTER ROLE … SET statement_timeout = …`).
 */
function sessionTimeouts(target: Extract<DatabaseTarget, { kind: 'postgres' }>): Record<string, string> {
  const parameters: Record<string, string> = {};
  if (target.statementTimeoutMs) parameters.statement_timeout = String(target.statementTimeoutMs);
  if (target.idleInTransactionTimeoutMs)
    parameters.idle_in_transaction_session_timeout = String(target.idleInTransactionTimeoutMs);
  return parameters;
}

function openPostgres<TSchema extends DrizzleSchema>(
  target: Extract<DatabaseTarget, { kind: 'postgres' }>,
  schema: TSchema,
  metrics: Metrics | null,
  logger: Logger | null,
): DatabaseHandle<TSchema> {
  let statements = 0;
  const poolMax = target.poolMax ?? defaultPoolMax;
  const replicaSettings = target.replicas?.urls.length ? target.replicas : null;
  const replicaCount = replicaSettings?.urls.length ?? 0;
  // A replica's pool is the primary's twin: a read there is bound as it would be on the primary.
  const pool = (url: string) =>
    postgres(url, {
      max: poolMax,
      connect_timeout: connectTimeoutSeconds,
      backoff: reconnectBackoffSeconds,
      idle_timeout: 60,
      connection: sessionTimeouts(target),
      // Migrations print NOTICEs ("schema already exists"); they are not news.
      onnotice: () => {},
      // postgres.js otherwise queries pg_type on every new connection, to parse
      // array columns; drizzle never reads those, so skip the round trip.
      fetch_types: false,
      debug: () => {
        statements++;
      },
    });
  const client = pool(target.url);
  // One set of statement and pool series for the database, replicas' pools included.
  const observer = metrics ? new DatabaseMetrics(metrics, poolMax * (1 + replicaCount)) : null;
  const primarySql = observedPostgres(client, observer);
  const db = drizzlePostgres({ client: primarySql, schema });
  const replicas = replicaSettings
    ? new ReadReplicas({
        primary: { db, sql: primarySql },
        replicas: replicaSettings.urls.map((url) => ({
          location: postgresLocation(url),
          sql: observedPostgres(pool(url), observer),
        })),
        schema,
        readYourWritesWindowMs: replicaSettings.readYourWritesWindowMs,
        metrics,
        logger,
      })
    : null;
  return {
    db,
    kind: 'postgres',
    replicas,
    statementCount: () => statements,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    migrate: async (folder, options = {}) => {
      // A session of its own, not one reserved from the pool: a pool of one
      // (DB_POOL_MAX=1) with its only connection reserved would leave the
      // service none while it migrates.
      const session = postgres(target.url, {
        max: 1,
        connect_timeout: connectTimeoutSeconds,
        onnotice: () => {},
        fetch_types: false,
      });
      try {
        // On the lock's session, which has none of the serving pool's timeouts: a migration may rightly
        // run longer than any request's statement (an index built on a large table).
        await withMigrationLock(session, options, () =>
          migratePostgres(drizzlePostgres({ client: session }), { migrationsFolder: folder }),
        );
      } finally {
        await session.end({ timeout: 5 });
      }
    },
    close: async () => {
      await replicas?.close();
      await client.end({ timeout: 5 });
    },
  };
}

async function openPglite<TSchema extends DrizzleSchema>(
  target: Extract<DatabaseTarget, { kind: 'pglite' }>,
  schema: TSchema,
  metrics: Metrics | null,
): Promise<DatabaseHandle<TSchema>> {
  // Loaded only here: a service on Postgres, as in production, never pays the embedded database's load time (about 70 ms).
  const [{ PGlite: EmbeddedPostgres }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  let lock: DirectoryLock | null = null;
  if (target.dataDir) {
    await mkdir(target.dataDir, { recursive: true });
    lock = await lockDirectory(target.dataDir);
  }
  let client: PGlite;
  try {
    client = await EmbeddedPostgres.create(target.dataDir ?? undefined, { postgresqlconf: embeddedPostgresSettings });
  } catch (error) {
    await lock?.release();
    throw error;
  }
  let statements = 0;
  // PGlite runs one statement at a time: a pool of one.
  const observer = metrics ? new DatabaseMetrics(metrics, 1) : null;
  // PGlite has no debug hook; count where drizzle hands statements to it.
  const query = client.query.bind(client);
  const exec = client.exec.bind(client);
  const transaction = client.transaction.bind(client);
  client.query = ((...args: Parameters<PGlite['query']>) => {
    statements++;
    return observeStatement(observer, false, args[0], () => query(...args));
  }) as PGlite['query'];
  client.exec = ((...args: Parameters<PGlite['exec']>) => {
    statements++;
    return observeStatement(observer, false, args[0], () => exec(...args));
  }) as PGlite['exec'];
  // A transaction's statements go through the object it hands its callback, not `client.query`.
  client.transaction = ((callback: Parameters<PGlite['transaction']>[0]) => {
    const run = () => transaction((tx) => callback(observedStatements(tx, ['query', 'sql', 'exec'], observer, true)));
    return observer ? observer.transaction(run) : run();
  }) as PGlite['transaction'];
  const db = drizzlePglite({ client, schema });
  return {
    db,
    kind: 'pglite',
    replicas: null,
    statementCount: () => statements,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    // No advisory lock: PGlite is one session in this process, and a session
    // lock never excludes its own session. No other process reaches it
    // either: the directory lock keeps them out (and memory is this process's).
    migrate: (folder) => migratePglite(db, { migrationsFolder: folder }),
    close: async () => {
      await client.close();
      await lock?.release();
    },
  };
}

/**
 * The postgres.js client as drizzle sees it, with every statement traced,
 * and every statement and transaction counted and timed when there are
 * metrics. Drizzle sends statements with `unsafe`,
 * and runs transactions with `begin` (nested ones with `savepoint`), whose
 * callback gets a client bound to the transaction's connection: that one is
 * wrapped too, its statements counted as running inside the transaction.
 */
function observedPostgres(sql: postgres.Sql, metrics: DatabaseMetrics | null, inTransaction = false): postgres.Sql {
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (...args: Parameters<postgres.Sql['unsafe']>) =>
          timedWhenAwaited(target.unsafe(...args), (run) => observeStatement(metrics, inTransaction, args[0], run));
      }
      if (property === 'begin' || property === 'savepoint') {
        const open = Reflect.get(target, property, target) as (...args: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => {
          const callback = args.at(-1) as (transactionSql: postgres.Sql) => unknown;
          const observedArgs = [
            ...args.slice(0, -1),
            (transactionSql: postgres.Sql) => callback(observedPostgres(transactionSql, metrics, true)),
          ];
          // A savepoint runs on the connection its transaction already holds.
          return property === 'begin' && metrics
            ? metrics.transaction(() => open.apply(target, observedArgs))
            : open.apply(target, observedArgs);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * A postgres.js query is sent when first awaited, not when made, and
 * drizzle calls `.values()` on it in between; this times it from that first
 * `then` to its answer. Every other member is the query's own, and chained
 * calls that return the query (`.values()`) return the wrapper instead.
 */
function timedWhenAwaited<T extends PromiseLike<unknown>>(
  query: T,
  time: (run: () => PromiseLike<unknown>) => Promise<unknown>,
): T {
  let answer: Promise<unknown> | undefined;
  const wrapper: T = new Proxy(query, {
    get(target, property) {
      if (property === 'then') {
        return (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) => {
          answer ??= time(() => target.then((value) => value));
          return answer.then(onFulfilled, onRejected);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        return result === target ? wrapper : result;
      };
    },
  });
  return wrapper;
}

/** `target` with the named statement methods observed as `observeStatement` does. */
function observedStatements<T extends object>(
  target: T,
  methods: ReadonlyArray<keyof T & string>,
  metrics: DatabaseMetrics | null,
  inTransaction: boolean,
): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || !methods.includes(property as keyof T & string)) return value;
      return (...args: unknown[]) =>
        observeStatement(metrics, inTransaction, args[0], () => value.apply(object, args) as PromiseLike<unknown>);
    },
  });
}

/**
 * Runs one statement as it is sent: counted and timed into `metrics`, and,
 * inside a traced request, in a CLIENT span of its own. `db.statement` is
 * the text drizzle sends, with `$1`-style placeholders: values travel apart
 * from it, as parameters, so no value is ever in a span.
 */
function observeStatement<T>(
  metrics: DatabaseMetrics | null,
  inTransaction: boolean,
  query: unknown,
  run: () => PromiseLike<T>,
): Promise<T> {
  const measured = async () => (metrics ? metrics.statement(inTransaction, run) : run());
  // Every statement passes here: build the span's name and attributes only for a traced request.
  if (!inTracedWork()) return measured();
  const text = typeof query === 'string' ? query : Array.isArray(query) ? query.join('?') : '';
  return inChildSpan(
    // The statement's verb (SELECT, INSERT…), as the database semantic conventions name a span without a table.
    /^\s*([a-z]+)/i.exec(text)?.[1]?.toUpperCase() ?? 'postgresql',
    { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.statement': text } },
    measured,
  );
}

/** Whether `table` has no rows, without counting them all. */
export async function isTableEmpty(db: Database<DrizzleSchema>, table: PgTable): Promise<boolean> {
  const rows = await db
    .select({ present: sql<number>`1` })
    .from(table)
    .limit(1);
  return rows.length === 0;
}

/**
 * Rows of a raw SQL query, whichever driver runs it: postgres.js answers
 * with the rows themselves, PGlite with an object holding them.
 */
export async function selectRows<TRow>(db: { execute(query: SQL): PromiseLike<unknown> }, query: SQL): Promise<TRow[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: TRow[] }).rows) as TRow[];
}
