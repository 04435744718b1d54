import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import postgres from 'postgres';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { openDatabase, selectRows, type DatabaseTarget } from '../src/db/database.ts';
import { MigrationLockTimeoutError, migrationLockKey } from '../src/db/migration-lock.ts';
import { createLogger } from '../src/logger.ts';
import { subgraphFiles } from '../src/subgraph/definition.ts';
import { createTestDatabase } from '../../test/databases.ts';
import { loadSubgraph } from '../../subgraphs/registry.ts';

/**
 * Two migrators started at once on one empty database, as two Job pods or
 * two replicas migrating on start are: the advisory lock lets one migrate
 * while the other waits, then finds nothing left to apply. Only a real
 * Postgres shows this: PGlite has one session, and a session lock never
 * excludes its own session.
 */

const postgresAdminUrl = inject('postgresAdminUrl');
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  await Promise.allSettled(
    cleanups
      .splice(0)
      .reverse()
      .map((cleanup) => cleanup()),
  );
});

/** A fresh database on the real Postgres; CI without one fails here (global-setup.ts has already failed the run). */
async function freshPostgres(label: string): Promise<Extract<DatabaseTarget, { kind: 'postgres' }>> {
  if (postgresAdminUrl === null) throw new Error('this test needs a real Postgres: set TEST_POSTGRES_URL');
  const database = await createTestDatabase(label, postgresAdminUrl);
  cleanups.push(() => database.drop());
  if (database.target.kind !== 'postgres') throw new Error(`expected a postgres target, got ${database.target.kind}`);
  return database.target;
}

/** A logger whose lines land in `lines`, parsed. */
function capturingLogger(service: string, lines: Array<Record<string, unknown>>) {
  return createLogger({
    service,
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
}

async function openOrders(target: DatabaseTarget) {
  const definition = await loadSubgraph('orders');
  const database = await openDatabase(target, definition.tables);
  cleanups.push(() => database.close());
  return { database, folder: subgraphFiles(definition).migrationsFolder };
}

// Never skipped: without a real Postgres (no binaries to start one, no TEST_POSTGRES_URL) each test fails in `freshPostgres`.
describe('migrations on one database', () => {
  it('run one migrator at a time: two started at once both succeed, each migration is applied once, one waited', async () => {
    const target = await freshPostgres('migration_lock');
    const first = await openOrders(target);
    const second = await openOrders(target);
    const lines: Array<Record<string, unknown>> = [];

    await Promise.all([
      first.database.migrate(first.folder, { logger: capturingLogger('migrator-a', lines) }),
      second.database.migrate(second.folder, { logger: capturingLogger('migrator-b', lines) }),
    ]);

    const applied = await selectRows<{ hash: string; created_at: string }>(
      first.database.db,
      sql`select hash, created_at from drizzle.__drizzle_migrations order by id`,
    );
    const expected = readMigrationFiles({ migrationsFolder: first.folder });
    expect(applied.map((row) => row.hash)).toEqual(expected.map((migration) => migration.hash));
    expect(applied.map((row) => Number(row.created_at))).toEqual(expected.map((migration) => migration.folderMillis));

    const waited = lines.filter((line) => line.msg === 'another migrator holds the migration lock; waiting for it');
    expect(waited, JSON.stringify(lines)).toHaveLength(1);
    expect(waited[0]).toMatchObject({ level: 30, database: new URL(target.url).pathname.slice(1) });
    const took = lines.filter((line) => line.msg === 'took the migration lock after waiting');
    expect(took.map((line) => line.service)).toEqual([waited[0]!.service]);
  });

  it('gives up waiting at the deadline, naming the database, and applies nothing', async () => {
    const target = await freshPostgres('migration_lock_timeout');
    const name = new URL(target.url).pathname.slice(1);
    // Another migrator, stuck: a session that holds the lock and never lets go.
    const holder = postgres(target.url, { max: 1, onnotice: () => {} });
    cleanups.push(() => holder.end({ timeout: 5 }));
    await holder`select pg_advisory_lock(${String(migrationLockKey)}::bigint)`;
    const [{ pid }] = (await holder`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    const { database, folder } = await openOrders(target);

    const migration = database.migrate(folder, { lockTimeoutMs: 600 });
    await expect(migration).rejects.toBeInstanceOf(MigrationLockTimeoutError);
    await expect(migration).rejects.toThrow(
      new RegExp(`^Gave up after 0\\.6 s waiting for another migrator of database "${name}".*backend pid ${pid}`),
    );
    // Not even drizzle's bookkeeping: the wait came before any statement of the migration.
    const bookkeeping = await selectRows<{ present: boolean }>(
      database.db,
      sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`,
    );
    expect(bookkeeping).toEqual([{ present: false }]);

    // Once the holder lets go, the same handle migrates.
    await holder`select pg_advisory_unlock(${String(migrationLockKey)}::bigint)`;
    await database.migrate(folder, { lockTimeoutMs: 600 });
  });
});

describe('a serving pool on Postgres', () => {
  it('bounds its sessions with the statement and idle-in-transaction timeouts, and migrates without them', async () => {
    const target = await freshPostgres('session_timeouts');
    const { database, folder } = await openOrders({
      ...target,
      statementTimeoutMs: 300,
      idleInTransactionTimeoutMs: 400,
    });
    const [settings] = await selectRows<{ statement: string; idle: string }>(
      database.db,
      sql`select current_setting('statement_timeout') as statement,
                 current_setting('idle_in_transaction_session_timeout') as idle`,
    );
    expect(settings).toEqual({ statement: '300ms', idle: '400ms' });
    // A statement longer than that is cancelled (57014, query_canceled), and the pool goes on.
    await expect(database.db.execute(sql`select pg_sleep(2)`)).rejects.toMatchObject({
      cause: { code: '57014' },
    });
    // The migration's own session has neither: its statements may take as long as they need.
    const lines: Array<Record<string, unknown>> = [];
    await database.migrate(folder, { logger: capturingLogger('migrator', lines) });
    const [applied] = await selectRows<{ count: string }>(
      database.db,
      sql`select count(*) as count from drizzle.__drizzle_migrations`,
    );
    expect(Number(applied!.count)).toBe(readMigrationFiles({ migrationsFolder: folder }).length);
  });

  it('sends no timeouts when they are 0, so the role or database setting applies', async () => {
    const target = await freshPostgres('session_timeouts_off');
    const { database } = await openOrders({ ...target, statementTimeoutMs: 0, idleInTransactionTimeoutMs: 0 });
    const [settings] = await selectRows<{ statement: string }>(
      database.db,
      sql`select current_setting('statement_timeout') as statement`,
    );
    expect(settings).toEqual({ statement: '0' });
  });
});
