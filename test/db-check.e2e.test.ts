import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, selectRows } from '../platform/src/db/database.ts';
import { copyRepository, type RepositoryCopy } from './support/repository-copy.ts';

/**
 * `npm run db:check` and `db:generate` the way CI and a developer run them,
 * through pipes, in a copy of the repository: a column renamed in
 * schema.ts is a question drizzle-kit can only ask in a terminal.
 */

const schema = 'subgraphs/orders/src/db/schema.ts';
const migrations = 'subgraphs/orders/migrations';

let repo: RepositoryCopy;

beforeAll(async () => {
  repo = await copyRepository();
  repo.edit(schema, "totalCents: integer('total_cents')", "totalCents: integer('total_amount_cents')");
});

afterAll(() => repo?.remove());

const sqlFiles = () => readdirSync(join(repo.dir, migrations)).filter((file) => file.endsWith('.sql'));

// Each command starts tsx and drizzle-kit through npm: seconds alone, far more on a busy machine.
describe('a renamed column', { timeout: 300_000 }, () => {
  it('fails db:check with the way to state the rename', async () => {
    const check = await repo.npm('db:check', ['orders']);
    expect(check.exitCode).toBe(1);
    expect(check.stderr).toContain(
      'orders: drizzle-kit cannot tell whether a column or table of schema.ts was renamed',
    );
    expect(check.stderr).toContain('npm run db:generate -- orders --rename <table>.<old_column>=<new_column>');
    expect(check.stdout).not.toContain('migrations match');
  });

  it('fails db:generate without writing anything', async () => {
    const before = sqlFiles();
    const generate = await repo.npm('db:generate', ['orders']);
    expect(generate.exitCode).toBe(1);
    expect(generate.stderr).toContain('--rename');
    expect(sqlFiles()).toEqual(before);
    expect(await repo.git('status', '--porcelain', '--', migrations)).toBe('');
  });

  it('refuses a stated rename of a column the tables do not have', async () => {
    const generate = await repo.npm('db:generate', ['orders', '--rename', 'orders.total=total_amount_cents']);
    expect(generate.exitCode).toBe(1);
    expect(generate.stderr).toMatch(/table "orders" has no column "total"/);
    expect(await repo.git('status', '--porcelain', '--', migrations)).toBe('');
  });

  it('once stated, becomes a migration that renames in place, which db:check accepts and Postgres applies', async () => {
    const before = sqlFiles();
    const generate = await repo.npm('db:generate', [
      'orders',
      '--name',
      'total_amount',
      '--rename',
      'orders.total_cents=total_amount_cents',
    ]);
    expect(generate.stderr).toBe('');
    expect(generate.exitCode).toBe(0);
    const added = sqlFiles().filter((file) => !before.includes(file));
    expect(added).toEqual([expect.stringMatching(/^\d{4}_total_amount\.sql$/)]);
    const migration = repo.read(`${migrations}/${added[0]}`);
    expect(migration).toContain('ALTER TABLE "orders" RENAME COLUMN "total_cents" TO "total_amount_cents";');
    // Nothing dropped: the data stays.
    expect(migration).not.toMatch(/DROP/i);

    const check = await repo.npm('db:check', ['orders']);
    expect(check.exitCode).toBe(0);
    expect(check.stdout).toContain('orders: migrations match schema.ts');

    const database = await openDatabase({ kind: 'pglite', dataDir: null }, {});
    try {
      await database.migrate(join(repo.dir, migrations));
      const columns = await selectRows<{ name: string }>(
        database.db,
        sql`select column_name as name from information_schema.columns where table_name = 'orders'`,
      );
      expect(columns.map((column) => column.name)).toContain('total_amount_cents');
      expect(columns.map((column) => column.name)).not.toContain('total_cents');
    } finally {
      await database.close();
    }
  });
});
