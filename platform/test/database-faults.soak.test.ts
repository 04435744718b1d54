import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, selectRows, type DatabaseHandle } from '../src/db/database.ts';
import { isDatabaseUnavailable } from '../src/errors.ts';
import { startPostgres, type PostgresServer } from '../../test/services.ts';

/**
 * What the driver does when Postgres goes away under load: every statement
 * settles, as a result or as an error the platform reports as
 * DATABASE_UNAVAILABLE, and the pool serves again once Postgres is back.
 *
 * postgres.js 3.4.9 fails this without patches/postgres+3.4.9.patch: a write
 * scheduled before the socket closed throws from a timer (an uncaught
 * exception that ends the process), and a connection that closed with a
 * write pending never writes again, so its later queries hang for ever.
 */

const workers = 20;
/** A statement unsettled after this long counts as hung. */
const hungAfterMs = 15_000;

let pg: PostgresServer;
let database: DatabaseHandle<Record<string, never>>;

beforeAll(async () => {
  pg = await startPostgres();
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`create database faults`;
  await admin.end();
  const url = new URL(pg.adminUrl);
  url.pathname = '/faults';
  database = await openDatabase({ kind: 'postgres', url: url.toString() }, {});
  await database.db.execute(sql`create table writes (id bigint generated always as identity, worker int not null)`);
});

afterAll(async () => {
  await database?.close();
  await pg?.stop();
});

describe('the Postgres driver under connection loss', () => {
  it('settles every statement through a fast restart and terminated connections, then serves again', async () => {
    const outcomes = { committed: 0, unavailable: 0, other: [] as string[], hung: 0 };
    let running = true;

    /** A transaction shaped like the ones orders and inventory run: a lock, a read, a write. */
    const transaction = (worker: number) =>
      database.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_try_advisory_xact_lock(${worker})`);
        await tx.execute(sql`select count(*) from writes where worker = ${worker}`);
        await tx.execute(sql`insert into writes (worker) values (${worker})`);
      });

    const loops = Array.from({ length: workers }, async (_, worker) => {
      while (running) {
        const settled = transaction(worker).then(
          () => 'committed' as const,
          (error: unknown) => error,
        );
        const outcome = await Promise.race([settled, sleep(hungAfterMs, 'hung' as const)]);
        if (outcome === 'committed') outcomes.committed++;
        else if (outcome === 'hung') outcomes.hung++;
        else if (isDatabaseUnavailable(outcome)) outcomes.unavailable++;
        else outcomes.other.push(String((outcome as Error).message));
        if (outcome !== 'committed') await sleep(20);
      }
    });

    await sleep(500);
    await pg.restart();
    await sleep(1_000);
    const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
    const [terminated] = await admin`
      select count(*)::int as count from (
        select pg_terminate_backend(pid) from pg_stat_activity where datname = 'faults'
      ) as terminated`;
    await admin.end();
    await sleep(1_000);
    running = false;
    await Promise.all(loops);

    expect(terminated!.count).toBeGreaterThan(0);
    expect(outcomes.hung).toBe(0);
    expect(outcomes.other).toEqual([]);
    expect(outcomes.unavailable).toBeGreaterThan(0);
    // And the pool works again, on every connection it holds.
    const rows = await Promise.all(
      Array.from({ length: workers }, () => selectRows<{ one: number }>(database.db, sql`select 1 as one`)),
    );
    expect(rows.flat()).toHaveLength(workers);
  });
});
