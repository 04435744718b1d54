import { count, inArray } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { selectPagePerParent, type Keyset } from '../../../platform/src/db/keyset.ts';
import { uuidKeys } from '../../../platform/src/graphql/ids.ts';
import { createPagedGroupLoader, createRowLoader } from '../../../platform/src/graphql/loaders.ts';
import { newestFirstCursor, type Page } from '../../../platform/src/graphql/pagination.ts';
import * as tables from './db/schema.ts';
import type { ReviewRow } from './db/schema.ts';

const { productRatings, reviews } = tables;

export const newestFirst: Keyset = { sort: reviews.createdAt, id: reviews.id, direction: 'desc' };

export const reviewCursor = newestFirstCursor('reviews');

export type ReviewPage = Page<[Date, string]>;

export function createLoaders(db: Database<typeof tables>) {
  // Live counts, for the connections' `totalCount` (why not the projection: see `reviewsOf`).
  const reviewCount = (parent: typeof reviews.productId | typeof reviews.authorId) =>
    createRowLoader({
      fetch: (ids: string[]) =>
        db.select({ parentId: parent, count: count() }).from(reviews).where(inArray(parent, ids)).groupBy(parent),
      keyOf: (row) => row.parentId,
      ...uuidKeys,
    });
  const pageOfReviews = (
    parent: typeof reviews.productId | typeof reviews.authorId,
    parentOf: (row: ReviewRow) => string,
  ) =>
    createPagedGroupLoader({
      fetch: (parentIds, page: ReviewPage) =>
        selectPagePerParent(db, {
          table: reviews,
          parent,
          parentIds,
          keyset: newestFirst,
          after: page.after,
          limit: page.limit,
        }),
      parentOf,
      ...uuidKeys,
    });

  return {
    reviewById: createRowLoader({
      fetch: (ids: string[]) => db.select().from(reviews).where(inArray(reviews.id, ids)),
      keyOf: (row) => row.id,
      ...uuidKeys,
    }),
    reviewsByProduct: pageOfReviews(reviews.productId, (row) => row.productId),
    reviewsByAuthor: pageOfReviews(reviews.authorId, (row) => row.authorId),
    reviewCountByProduct: reviewCount(reviews.productId),
    reviewCountByAuthor: reviewCount(reviews.authorId),
    /** The rating projection's row; null for a product it does not know. */
    productRating: createRowLoader({
      fetch: (ids: string[]) => db.select().from(productRatings).where(inArray(productRatings.productId, ids)),
      keyOf: (row) => row.productId,
      ...uuidKeys,
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
