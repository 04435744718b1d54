import { lt, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { handleOnce, on, type DomainEvent } from '../../../platform/src/events/index.ts';
import { productRatingChanged, type ProductRatingChanged } from '../../reviews/src/events.ts';
import * as tables from './db/schema.ts';

type ProductsDatabase = Database<typeof tables>;

/**
 * Keeps the rating read model at the newest rating reviews stated. A
 * product's reviews are only ever added, so the higher count is the newer
 * state: an event that arrives late, or a republished one that says what
 * the row already holds, changes nothing.
 */
export function applyProductRatingChanged(
  db: ProductsDatabase,
  event: DomainEvent<ProductRatingChanged>,
): Promise<boolean> {
  return handleOnce(db, 'products', event, async (tx) => {
    const { productId, reviewCount, averageRating } = event.payload;
    await tx
      .insert(tables.productRatings)
      .values({ productId, reviewCount, averageRating })
      .onConflictDoUpdate({
        target: tables.productRatings.productId,
        set: { reviewCount, averageRating, updatedAt: sql`now()` },
        setWhere: lt(tables.productRatings.reviewCount, reviewCount),
      });
  });
}

/** The rating read model follows the reviews subgraph's ProductRatingChanged. */
export const ratingsConsumer = on(productRatingChanged, (event, db: ProductsDatabase) =>
  applyProductRatingChanged(db, event),
);
