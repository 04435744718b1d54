import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedProgress, SeedSize } from '../../../platform/src/subgraph/definition.ts';
import {
  insertEachInBatches,
  insertInBatches,
  seedCategories,
  seedProduct,
  seedReviews,
  worldSizes,
} from '../../../seed/world.ts';
import { averageRating } from '../../reviews/src/events.ts';
import * as tables from './db/schema.ts';

export async function seed(db: Database<typeof tables>, size: SeedSize, progress?: SeedProgress): Promise<void> {
  const world = worldSizes[size];
  await db.transaction(async (tx) => {
    await tx
      .insert(tables.categories)
      .values(seedCategories.map(({ id, slug, name }) => ({ id, slug, name })))
      .onConflictDoNothing();
    await insertInBatches(
      world.products,
      seedProduct,
      (rows) => tx.insert(tables.products).values(rows).onConflictDoNothing(),
      { table: 'products', progress },
    );
    // The rating read model starts from the reviews the reviews subgraph seeds, as its
    // ProductRatingChanged would state them; from then on those events keep it current.
    await insertEachInBatches(
      seededRatings(world),
      (rows) => tx.insert(tables.productRatings).values(rows).onConflictDoNothing(),
      { table: 'product ratings', progress, atMost: world.products },
    );
  });
}

function* seededRatings(world: (typeof worldSizes)[SeedSize]) {
  const byProduct = new Map<string, { reviewCount: number; ratingSum: number }>();
  for (const { productId, rating } of seedReviews(world)) {
    const sums = byProduct.get(productId) ?? { reviewCount: 0, ratingSum: 0 };
    sums.reviewCount++;
    sums.ratingSum += rating;
    byProduct.set(productId, sums);
  }
  for (const [productId, sums] of byProduct)
    yield { productId, reviewCount: sums.reviewCount, averageRating: averageRating(sums) };
}
