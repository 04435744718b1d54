import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTable } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { assertNever } from '../assert.ts';
import { lockDirectory, type DirectoryLock } from './directory-lock.ts';

export type DrizzleSchema = Record<string, unknown>;

/** A drizzle database on either driver; subgraph code never needs to know which. */
export type Database<TSchema extends DrizzleSchema> = PgDatabase<PgQueryResultHKT, TSchema>;

/** Where a subgraph keeps its data. */
export type DatabaseTarget =
  | {
      kind: 'postgres';
      url: string;
      /** Pool size. Default: 10, postgres.js's own default. */
      poolMax?: number;
    }
  | {
      kind: 'pglite';
      /** Folder for the embedded database; `null` keeps it in memory. */
      dataDir: string | null;
    };

export interface DatabaseHandle<TSchema extends DrizzleSchema> {
  readonly db: Database<TSchema>;
  readonly kind: DatabaseTarget['kind'];
  /**
   * Statements the driver has sent since the database was opened. Counted
   * below drizzle, so nothing an ORM layer batches or hides escapes it.
   */
  statementCount(): number;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** Applies drizzle-kit migrations from `folder` that have not run yet. */
  migrate(folder: string): Promise<void>;
  close(): Promise<void>;
}

/** Connect timeout: an unreachable database becomes an error in seconds, not a hung request. */
const connectTimeoutSeconds = 5;

export async function openDatabase<TSchema extends DrizzleSchema>(
  target: DatabaseTarget,
  schema: TSchema,
): Promise<DatabaseHandle<TSchema>> {
  switch (target.kind) {
    case 'postgres':
      return openPostgres(target, schema);
    case 'pglite':
      return openPglite(target, schema);
    default:
      return assertNever(target, 'database target');
  }
}

function openPostgres<TSchema extends DrizzleSchema>(
  target: Extract<DatabaseTarget, { kind: 'postgres' }>,
  schema: TSchema,
): DatabaseHandle<TSchema> {
  let statements = 0;
  const client = postgres(target.url, {
    max: target.poolMax ?? 10,
    connect_timeout: connectTimeoutSeconds,
    idle_timeout: 60,
    // Migrations print NOTICEs ("schema already exists"); they are not news.
    onnotice: () => {},
    // postgres.js otherwise queries pg_type on every new connection, to parse
    // array columns; drizzle never reads those, so skip the round trip.
    fetch_types: false,
    debug: () => {
      statements++;
    },
  });
  const db = drizzlePostgres({ client, schema });
  return {
    db,
    kind: 'postgres',
    statementCount: () => statements,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    migrate: (folder) => migratePostgres(db, { migrationsFolder: folder }),
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite<TSchema extends DrizzleSchema>(
  target: Extract<DatabaseTarget, { kind: 'pglite' }>,
  schema: TSchema,
): Promise<DatabaseHandle<TSchema>> {
  let lock: DirectoryLock | null = null;
  if (target.dataDir) {
    await mkdir(target.dataDir, { recursive: true });
    lock = await lockDirectory(target.dataDir);
  }
  let client: PGlite;
  try {
    client = await PGlite.create(target.dataDir ?? undefined);
  } catch (error) {
    await lock?.release();
    throw error;
  }
  let statements = 0;
  // PGlite has no debug hook; count where drizzle hands statements to it.
  const query = client.query.bind(client);
  const exec = client.exec.bind(client);
  client.query = ((...args: Parameters<PGlite['query']>) => {
    statements++;
    return query(...args);
  }) as PGlite['query'];
  client.exec = ((...args: Parameters<PGlite['exec']>) => {
    statements++;
    return exec(...args);
  }) as PGlite['exec'];
  const db = drizzlePglite({ client, schema });
  return {
    db,
    kind: 'pglite',
    statementCount: () => statements,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    migrate: (folder) => migratePglite(db, { migrationsFolder: folder }),
    close: async () => {
      await client.close();
      await lock?.release();
    },
  };
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
