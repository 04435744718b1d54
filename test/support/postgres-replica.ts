/**
 * A streaming replica of the suite's Postgres, on loopback, for tests of
 * reads served by replicas. It is a hot standby cloned with pg_basebackup
 * from the running server (whose pg_hba.conf, as initdb writes it, lets
 * 127.0.0.1 connect for replication), started with pg_ctl on a free port
 * in a temp dir of its own, and stopped through its own handle.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { inject } from 'vitest';
import { findPostgresBinDir, freePort, postgresOwner } from '../services.ts';
import { until } from './until.ts';

const run = promisify(execFile);

/** How long the clone, a start or a stop may take; generous, as a busy machine is slow at all three. */
const serverTimeoutMs = 120_000;

export interface PostgresReplica {
  /** URL of `database` on the replica, as the superuser, e.g. `postgres://postgres@127.0.0.1:54322/orders`. */
  urlOf(database: string): string;
  /** Stops applying the primary's WAL (it is still received); reads show the primary as it was. Resolves once paused. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Resolves once the replica has replayed everything the primary had written when this was called. */
  catchUp(timeoutMs?: number): Promise<void>;
  /** Stops the server (fast shutdown), keeping its data for `start`. */
  stop(): Promise<void>;
  /** Starts it again after `stop`, on the same port. */
  start(): Promise<void>;
  /** Stops the server, drops its replication slot on the primary and deletes its data. Safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Clones the suite's Postgres into a streaming replica. Needs the Postgres
 * the suite starts (test/services.ts) on this machine: with
 * TEST_POSTGRES_URL, or without a real Postgres, it fails, saying so.
 */
export async function startReplica(
  primaryAdminUrl: string | null = inject('postgresAdminUrl'),
): Promise<PostgresReplica> {
  if (process.env.TEST_POSTGRES_URL) {
    throw new Error(
      'read replica tests need the Postgres the suite starts itself, to clone it with pg_basebackup on this machine; ' +
        'unset TEST_POSTGRES_URL to run them',
    );
  }
  if (primaryAdminUrl === null) {
    throw new Error(
      'read replica tests need the Postgres the suite starts itself; none was started (see global-setup.ts)',
    );
  }
  const primary = new URL(primaryAdminUrl);
  const binDir = await findPostgresBinDir();
  const owner = await postgresOwner();
  const dir = await mkdtemp(join(tmpdir(), 'test-postgres-replica-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  // A slot keeps the primary's WAL until the replica has it: other test files write plenty while this one runs.
  const slot = `test_replica_${randomBytes(4).toString('hex')}`;
  // Every command runs from the temp dir: the postgres user may not be allowed into our cwd.
  const asOwner = (file: string, args: string[]) =>
    owner
      ? run('runuser', ['-u', owner.name, '--', join(binDir, file), ...args], { cwd: dir })
      : run(join(binDir, file), args, { cwd: dir });
  const admin = postgres(primaryAdminUrl, { max: 1, connect_timeout: 5, onnotice: () => {} });
  const pgCtl = (...args: string[]) => asOwner('pg_ctl', ['-D', dataDir, ...args]);

  let running = false;
  const dropSlot = async () => {
    // The primary's walsender lets go of the slot a moment after the replica stops.
    await until(
      async () => {
        const [row] = await admin<
          Array<{ active: boolean }>
        >`select active from pg_replication_slots where slot_name = ${slot}`;
        if (!row) return true;
        if (row.active) return false;
        await admin`select pg_drop_replication_slot(${slot})`;
        return true;
      },
      { timeoutMs: serverTimeoutMs, what: `replication slot ${slot} released` },
    );
  };
  const cleanUp = async () => {
    if (running) await pgCtl('-m', 'immediate', '-w', 'stop').catch(() => {});
    running = false;
    // Also after a clone that failed halfway: the slot is made first.
    await dropSlot().catch(() => {});
    await admin.end({ timeout: 5 });
    await rm(dir, { recursive: true, force: true });
  };

  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    await asOwner('pg_basebackup', [
      '-D',
      dataDir,
      '-h',
      primary.hostname,
      '-p',
      primary.port,
      '-U',
      decodeURIComponent(primary.username) || 'postgres',
      // Writes standby.signal and primary_conninfo (with primary_slot_name), so it starts as a streaming replica.
      '-R',
      '--create-slot',
      '--slot',
      slot,
      // An immediate checkpoint: the default spreads it over minutes.
      '--checkpoint=fast',
      '--no-sync',
    ]).catch(failWith('pg_basebackup'));
    const port = await freePort();
    // The clone carries the primary's settings; later lines win. Feedback keeps the primary's vacuum
    // from cancelling the replica's queries, which would be flakiness, not the behaviour under test.
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        'hot_standby = on',
        'hot_standby_feedback = on',
        '',
      ].join('\n'),
    );
    const start = async () => {
      // -w: until it accepts connections, which a hot standby does once its data is consistent.
      await pgCtl('-l', logFile, '-w', '-t', String(serverTimeoutMs / 1000), 'start').catch(
        failWith('pg_ctl start', logFile),
      );
      running = true;
    };
    await start();

    const replicaUrl = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
    /** A short session on the replica's `postgres` database: the replica is stopped and started under the test. */
    const onReplica = async <T>(query: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
      const sql = postgres(replicaUrl('postgres'), { max: 1, connect_timeout: 5, onnotice: () => {} });
      try {
        return await query(sql);
      } finally {
        await sql.end({ timeout: 5 });
      }
    };

    let removed = false;
    return {
      urlOf: replicaUrl,
      async pauseReplay() {
        await onReplica(async (sql) => {
          await sql`select pg_wal_replay_pause()`;
          // The request takes effect at the next WAL record; until then the replica may still apply one.
          await until(
            async () => {
              const [row] = await sql<Array<{ state: string }>>`select pg_get_wal_replay_pause_state() as state`;
              return row?.state === 'paused';
            },
            { timeoutMs: serverTimeoutMs, what: 'replay paused on the replica' },
          );
        });
      },
      async resumeReplay() {
        await onReplica((sql) => sql`select pg_wal_replay_resume()`);
      },
      async catchUp(timeoutMs = serverTimeoutMs) {
        // The insert position: the suite's Postgres commits without waiting for its WAL to be written out.
        const [{ lsn: written }] = await admin<[{ lsn: string }]>`select pg_current_wal_insert_lsn()::text as lsn`;
        await onReplica((sql) =>
          until(
            async () => {
              const [row] = await sql<Array<{ behind: boolean }>>`
                select coalesce(pg_last_wal_replay_lsn() < ${written}::pg_lsn, true) as behind`;
              return row?.behind === false;
            },
            { timeoutMs, what: `the replica replaying the primary up to ${written}` },
          ),
        );
      },
      async stop() {
        await pgCtl('-m', 'fast', '-w', '-t', String(serverTimeoutMs / 1000), 'stop');
        running = false;
      },
      start,
      async remove() {
        if (removed) return;
        removed = true;
        try {
          if (running) await pgCtl('-m', 'fast', '-w', '-t', String(serverTimeoutMs / 1000), 'stop');
          running = false;
        } finally {
          // After a failed fast stop, an immediate one.
          await cleanUp();
        }
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

/** Rethrows a failed command with its stderr and, when there is one, the tail of the server's log. */
function failWith(what: string, logFile?: string) {
  return async (error: unknown): Promise<never> => {
    const stderr = (error as { stderr?: unknown }).stderr;
    const log = logFile ? await readFile(logFile, 'utf8').catch(() => '') : '';
    const tail = log.trimEnd().split('\n').slice(-20).join('\n');
    throw new Error(
      `${what} failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` +
        `${typeof stderr === 'string' && stderr.trim() ? `\n${stderr.trim()}` : ''}${tail ? `\n${tail}` : ''}`,
      { cause: error },
    );
  };
}
