import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type postgres from 'postgres';
import type { Logger } from '../logger.ts';

/**
 * The key of the session-level advisory lock every migrator holds while it
 * migrates. Advisory locks are per database, and each subgraph has a
 * database of its own, so one key serves every subgraph (two sharing a
 * database would merely migrate one after the other). Derived from a name
 * rather than picked, so that it is stable and does not happen to equal the
 * small integers other tools lock.
 */
export const migrationLockKey = createHash('sha256').update('shop-graph migrations').digest().readBigInt64BE(0);

/** How long a migrator waits for another by default: generous, since a large migration may run for minutes. */
export const defaultMigrationLockTimeoutMs = 5 * 60_000;

/**
 * How often a waiting migrator tries the lock. `pg_advisory_lock` would wait
 * in the server, but no timeout bounds that wait (`lock_timeout` leaves
 * advisory locks alone), so the wait is a loop of `pg_try_advisory_lock`.
 */
const pollIntervalMs = 250;

export interface MigrationLockOptions {
  /** Told when another migrator holds the lock and this one waits, and when it got the lock after all. Default: nobody. */
  logger?: Logger | null;
  /** How long to wait for another migrator before failing with `MigrationLockTimeoutError`. Default: `defaultMigrationLockTimeoutMs`. */
  lockTimeoutMs?: number;
  /** Ends the wait for the lock, such as when a starting subgraph is stopped. Default: none. */
  signal?: AbortSignal;
}

/** Thrown when another migrator held the lock for longer than the wait allowed. */
export class MigrationLockTimeoutError extends Error {
  override name = 'MigrationLockTimeoutError';
}

/**
 * Runs `migrate` while holding the migration lock on `session`, a client of
 * one connection kept apart from the pool that migrates: a session lock held
 * by one connection excludes every other connection's attempt, so the
 * migration itself may run on any of them. Two migrators started at once on
 * an empty database (two Job pods, two replicas migrating on start) otherwise
 * collide in drizzle's `CREATE SCHEMA IF NOT EXISTS "drizzle"`, which is not
 * safe against a concurrent twin; with the lock the second waits, then finds
 * nothing left to apply.
 */
export async function withMigrationLock<T>(
  session: postgres.Sql,
  { logger = null, lockTimeoutMs = defaultMigrationLockTimeoutMs, signal }: MigrationLockOptions,
  migrate: () => Promise<T>,
): Promise<T> {
  // postgres.js cannot send a bigint without a custom type; the text, cast in SQL, is the same key.
  const key = String(migrationLockKey);
  const started = Date.now();
  let waiting = false;
  for (;;) {
    signal?.throwIfAborted();
    const [{ locked, database }] = (await session`
      select pg_try_advisory_lock(${key}::bigint) as locked, current_database() as database
    `) as unknown as [{ locked: boolean; database: string }];
    if (locked) {
      if (waiting) logger?.info({ database, waitedMs: Date.now() - started }, 'took the migration lock after waiting');
      break;
    }
    if (Date.now() + pollIntervalMs > started + lockTimeoutMs) {
      const holder = await lockHolder(session, key);
      throw new MigrationLockTimeoutError(
        `Gave up after ${lockTimeoutMs / 1000} s waiting for another migrator of database "${database}" ` +
          `(it holds the migration lock${holder === null ? '' : `, in backend pid ${holder}`}). ` +
          `If no migration is running, that session is stuck: look it up in pg_stat_activity.`,
      );
    }
    if (!waiting) {
      const holderPid = await lockHolder(session, key);
      logger?.info({ database, holderPid, lockTimeoutMs }, 'another migrator holds the migration lock; waiting for it');
      waiting = true;
    }
    await sleep(pollIntervalMs, undefined, { signal });
  }
  try {
    return await migrate();
  } finally {
    // Closing the session would release the lock as well; unlocking frees it
    // the moment the migrations are in. A failure here means the connection
    // is gone, and the lock with it: nothing to add to the migration's outcome.
    await session`select pg_advisory_unlock(${key}::bigint)`.catch((error: unknown) =>
      logger?.warn({ err: error }, 'could not release the migration lock; it goes with its session'),
    );
  }
}

/** The backend pid holding the migration lock in this database, or null when it was just released. */
async function lockHolder(session: postgres.Sql, key: string): Promise<number | null> {
  // A bigint key is stored as its high and low halves in classid and objid.
  const rows = (await session`
    select pid from pg_locks
    where locktype = 'advisory' and granted and objsubid = 1
      and database = (select oid from pg_database where datname = current_database())
      and (classid::bigint << 32) | objid::bigint = ${key}::bigint
  `) as unknown as Array<{ pid: number }>;
  return rows[0]?.pid ?? null;
}
