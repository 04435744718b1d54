import { z } from 'zod';
import { defineEvent, entityTag } from '../../../platform/src/events/index.ts';

/** The stream this subgraph publishes to, and reads back to fold the rating projection. */
export const reviewsStream = 'reviews';

/** A review was added; the rating projection folds it in from the stream. */
export const reviewAdded = defineEvent({
  type: 'ReviewAdded',
  stream: reviewsStream,
  schema: z.object({
    reviewId: z.string(),
    productId: z.string(),
    authorId: z.string(),
    rating: z.number().int().min(1).max(5),
  }),
  // A new review joins its product's and its author's review lists. The product's rating
  // follows with the ProductRatingChanged every ReviewAdded brings, which purges it again.
  invalidates: ({ productId, authorId }) => [entityTag('Product', productId), entityTag('User', authorId)],
});

/** Said once the projection has changed, so whoever caches products drops them after, not before. */
export const productRatingChanged = defineEvent({
  type: 'ProductRatingChanged',
  stream: reviewsStream,
  schema: z.object({
    productId: z.string(),
    reviewCount: z.number().int().nonnegative(),
    /** Rounded to two decimals, as `Product.averageRating` shows it; null without reviews. */
    averageRating: z.number().nullable(),
  }),
  // averageRating and reviewCount.
  invalidates: ({ productId }) => [entityTag('Product', productId)],
});

/**
 * The mean rating as `Product.averageRating` shows it and ProductRatingChanged
 * carries it: two decimals, or null before the first review. Beside the
 * event, so whoever builds a rating without the event (a seed) rounds alike.
 */
export function averageRating({ reviewCount, ratingSum }: { reviewCount: number; ratingSum: number }): number | null {
  return reviewCount === 0 ? null : Math.round((ratingSum / reviewCount) * 100) / 100;
}

/** Said once the author's existing reviews carry the new username. */
export const reviewAuthorRenamed = defineEvent({
  type: 'ReviewAuthorRenamed',
  stream: reviewsStream,
  schema: z.object({ userId: z.string(), username: z.string() }),
  invalidates: ({ userId }) => [entityTag('User', userId)],
});

export type ReviewAdded = z.infer<typeof reviewAdded.schema>;
export type ProductRatingChanged = z.infer<typeof productRatingChanged.schema>;
