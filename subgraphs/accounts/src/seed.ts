import { count } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedSize } from '../../../platform/src/subgraph/definition.ts';
import { insertInBatches, seedUser, worldSizes } from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

export async function seed(db: Database<typeof tables>, size: SeedSize): Promise<void> {
  await db.transaction((tx) =>
    insertInBatches(worldSizes[size].users, seedUser, (rows) =>
      tx.insert(tables.users).values(rows).onConflictDoNothing(),
    ),
  );
}

export async function isEmpty(db: Database<typeof tables>): Promise<boolean> {
  const [row] = await db.select({ rows: count() }).from(tables.users);
  return (row?.rows ?? 0) === 0;
}
