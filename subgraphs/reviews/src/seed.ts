import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedSize } from '../../../platform/src/subgraph/definition.ts';
import { insertInBatches, seedReview, worldSizes } from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

export async function seed(db: Database<typeof tables>, size: SeedSize): Promise<void> {
  const world = worldSizes[size];
  await db.transaction((tx) =>
    insertInBatches(
      world.reviews,
      (index) => seedReview(index, world),
      (rows) => tx.insert(tables.reviews).values(rows).onConflictDoNothing(),
    ),
  );
}
