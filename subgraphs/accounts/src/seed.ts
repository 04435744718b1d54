import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedProgress, SeedSize } from '../../../platform/src/subgraph/definition.ts';
import { insertInBatches, seedUser, worldSizes } from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

export async function seed(db: Database<typeof tables>, size: SeedSize, progress?: SeedProgress): Promise<void> {
  await db.transaction((tx) =>
    insertInBatches(
      worldSizes[size].users,
      (index) => {
        const user = seedUser(index);
        // Seeded profiles never changed; the reviews subgraph dates its copy the same way.
        return { ...user, profileChangedAt: user.createdAt };
      },
      (rows) => tx.insert(tables.users).values(rows).onConflictDoNothing(),
      { table: 'users', progress },
    ),
  );
}
