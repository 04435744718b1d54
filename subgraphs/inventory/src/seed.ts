import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedProgress, SeedSize } from '../../../platform/src/subgraph/definition.ts';
import { insertInBatches, seedStockLevel, worldSizes } from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

export async function seed(db: Database<typeof tables>, size: SeedSize, progress?: SeedProgress): Promise<void> {
  await db.transaction((tx) =>
    insertInBatches(
      worldSizes[size].products,
      seedStockLevel,
      (rows) => tx.insert(tables.stockLevels).values(rows).onConflictDoNothing(),
      { table: 'stock levels', progress },
    ),
  );
}
