import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMissingDatabases } from './embedded-databases.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'embedded-databases-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createMissingDatabases', () => {
  it('makes each missing folder a database of its own, leaves existing ones alone, and cleans up', async () => {
    const [first, second] = [join(dir, 'first'), join(dir, 'second')];
    const scratch = join(dir, '.new-database');
    await createMissingDatabases([first], scratch);
    const database = await PGlite.create(first);
    await database.exec('create table kept (id int); insert into kept values (7);');
    await database.close();

    await createMissingDatabases([first, second], scratch);
    const reopened = await PGlite.create(first);
    expect((await reopened.query<{ id: number }>('select id from kept')).rows).toEqual([{ id: 7 }]);
    await reopened.close();
    // A copy, not the same folder: the second has no table of the first's.
    const other = await PGlite.create(second);
    expect((await other.query(`select 1 from pg_tables where tablename = 'kept'`)).rows).toEqual([]);
    await other.close();
    await expect(readFile(join(scratch, 'PG_VERSION'))).rejects.toThrow();
  }, 180_000);

  it('makes again a folder a stopped start left half copied', async () => {
    const half = join(dir, 'half');
    await createMissingDatabases([half], join(dir, '.new-database'));
    await rm(join(half, 'PG_VERSION'));
    await writeFile(join(half, 'leftover'), 'from a stopped start');
    await createMissingDatabases([half], join(dir, '.new-database'));
    await expect(readFile(join(half, 'leftover'))).rejects.toThrow();
    const database = await PGlite.create(half);
    expect((await database.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await database.close();
  }, 180_000);
});
