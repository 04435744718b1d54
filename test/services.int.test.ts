import postgres from 'postgres';
import { describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from './databases.ts';
import { pingRedis } from './services.ts';

const ci = process.env.CI === 'true';
const postgresAdminUrl = inject('postgresAdminUrl');
const redisUrl = inject('redisUrl');

// Test names say what was actually exercised, so a run without real services cannot read as if it had them.
describe('test services', () => {
  it(
    postgresAdminUrl
      ? 'creates, writes, reads and drops a throwaway Postgres database'
      : 'falls back to an in-memory PGlite target without Postgres (never under CI)',
    async () => {
      if (ci) expect(postgresAdminUrl).not.toBeNull();
      const { target, drop } = await createTestDatabase('services self-test');

      if (postgresAdminUrl === null) {
        expect(target).toEqual({ kind: 'pglite', dataDir: null });
        await drop();
        return;
      }

      if (target.kind !== 'postgres') expect.unreachable(`expected a postgres target, got ${target.kind}`);
      const name = new URL(target.url).pathname.slice(1);
      expect(name).toMatch(/^t_services_self_test_[0-9a-f]{8}$/);

      const sql = postgres(target.url, { max: 1, onnotice: () => {} });
      try {
        await sql`create table item (id int primary key, name text not null)`;
        await sql`insert into item ${sql([{ id: 1, name: 'kettle' }])}`;
        expect(await sql`select id, name from item`).toEqual([{ id: 1, name: 'kettle' }]);
      } finally {
        await sql.end({ timeout: 5 });
      }

      await drop();
      const admin = postgres(postgresAdminUrl, { max: 1 });
      try {
        expect(await admin`select 1 from pg_database where datname = ${name}`).toHaveLength(0);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  );

  it(redisUrl ? 'reaches Redis' : 'runs without Redis only outside CI', async () => {
    if (redisUrl === null) {
      expect(ci).toBe(false);
      return;
    }
    await expect(pingRedis(redisUrl)).resolves.toBeUndefined();
  });
});
