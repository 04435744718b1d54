import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedProgress, SeedSize } from '../../../platform/src/subgraph/definition.ts';
import { insertInBatches, seedCategories, seedProduct, worldSizes } from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

export async function seed(db: Database<typeof tables>, size: SeedSize, progress?: SeedProgress): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .insert(tables.categories)
      .values(seedCategories.map(({ id, slug, name }) => ({ id, slug, name })))
      .onConflictDoNothing();
    await insertInBatches(
      worldSizes[size].products,
      seedProduct,
      (rows) => tx.insert(tables.products).values(rows).onConflictDoNothing(),
      { table: 'products', progress },
    );
  });
}
