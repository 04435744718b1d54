import { sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedProgress, SeedSize } from '../../../platform/src/subgraph/definition.ts';
import {
  insertEachInBatches,
  insertInBatches,
  seedProduct,
  seedReviews,
  seedUser,
  worldSizes,
} from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

const { productRatings, reviewAuthors, reviews } = tables;

export async function seed(db: Database<typeof tables>, size: SeedSize, progress?: SeedProgress): Promise<void> {
  const world = worldSizes[size];
  await db.transaction(async (tx) => {
    await insertEachInBatches(seedReviews(world), (rows) => tx.insert(reviews).values(rows).onConflictDoNothing(), {
      table: 'reviews',
      progress,
      atMost: world.reviews,
    });
    await insertInBatches(
      world.users,
      (index) => {
        const { id, username, createdAt } = seedUser(index);
        // Dated like the account's seeded profile: any real change is newer.
        return { userId: id, username, changedAt: createdAt };
      },
      (rows) => tx.insert(reviewAuthors).values(rows).onConflictDoNothing(),
      { table: 'review authors', progress },
    );
    // The projection, folded from the reviews the table holds, so it agrees with them exactly...
    await tx.execute(sql`
      insert into ${productRatings} (product_id, review_count, rating_sum, updated_at)
      select product_id, count(*), sum(rating), max(created_at) from ${reviews} group by product_id
      on conflict (product_id) do nothing`);
    // ...and a zero row for every other catalog product: a row is how addReview knows a product.
    await insertInBatches(
      world.products,
      (index) => {
        const { id, createdAt } = seedProduct(index);
        return { productId: id, reviewCount: 0, ratingSum: 0, updatedAt: createdAt };
      },
      (rows) => tx.insert(productRatings).values(rows).onConflictDoNothing(),
      { table: 'product ratings', progress },
    );
  });
}
