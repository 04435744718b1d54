import { avg, count, inArray } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { selectPagePerParent, type Keyset } from '../../../platform/src/db/keyset.ts';
import { uuidKeys } from '../../../platform/src/graphql/ids.ts';
import { createPagedGroupLoader, createRowLoader } from '../../../platform/src/graphql/loaders.ts';
import { newestFirstCursor, type Page } from '../../../platform/src/graphql/pagination.ts';
import * as tables from './db/schema.ts';
import type { ReviewRow } from './db/schema.ts';

const { reviews } = tables;

export const newestFirst: Keyset = { sort: reviews.createdAt, id: reviews.id, direction: 'desc' };

export const reviewCursor = newestFirstCursor('reviews');

export type ReviewPage = Page<[Date, string]>;

export function createLoaders(db: Database<typeof tables>) {
  const ratingSummary = (parent: typeof reviews.productId | typeof reviews.authorId) =>
    createRowLoader({
      fetch: (ids: string[]) =>
        db
          .select({ parentId: parent, count: count(), average: avg(reviews.rating) })
          .from(reviews)
          .where(inArray(parent, ids))
          .groupBy(parent),
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
    productRatings: ratingSummary(reviews.productId),
    authorRatings: ratingSummary(reviews.authorId),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
