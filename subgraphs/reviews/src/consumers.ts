import { and, eq, lt, ne, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { handleOnce, on, republishState, type DomainEvent } from '../../../platform/src/events/index.ts';
import type { SubgraphEvents } from '../../../platform/src/subgraph/definition.ts';
import { userProfileChanged, type UserProfileChanged } from '../../accounts/src/events.ts';
import * as tables from './db/schema.ts';
import {
  averageRating,
  productRatingChanged,
  reviewAdded,
  reviewAuthorRenamed,
  type ProductRatingChanged,
  type ReviewAdded,
} from './events.ts';

/** The consumer group and inbox name of this subgraph's handlers. */
const consumer = 'reviews';

type ReviewsDatabase = Database<typeof tables>;

/** Folds one ReviewAdded into the product's rating row, once per event. */
export function applyReviewAdded(db: ReviewsDatabase, event: DomainEvent<ReviewAdded>): Promise<boolean> {
  return handleOnce(db, consumer, event, async (tx) => {
    const { productId, rating } = event.payload;
    // Adding to the row under its lock: concurrent reviews of one product all count.
    const [row] = await tx
      .insert(tables.productRatings)
      .values({ productId, reviewCount: 1, ratingSum: rating })
      .onConflictDoUpdate({
        target: tables.productRatings.productId,
        set: {
          reviewCount: sql`${tables.productRatings.reviewCount} + 1`,
          ratingSum: sql`${tables.productRatings.ratingSum} + ${rating}`,
          updatedAt: sql`now()`,
        },
      })
      .returning();
    const { aggregateId, payload } = ratingOf(row!);
    await productRatingChanged.record(tx, aggregateId, payload);
  });
}

/** A product's rating as ProductRatingChanged states it, from its projection row. */
function ratingOf(row: tables.ProductRatingRow): { aggregateId: string; payload: ProductRatingChanged } {
  return {
    aggregateId: row.productId,
    payload: { productId: row.productId, reviewCount: row.reviewCount, averageRating: averageRating(row) },
  };
}

/**
 * Every product's current rating, for a rating read model that starts empty
 * (the products subgraph's, `npm run db:republish -- reviews`).
 */
export function republishRatings(db: ReviewsDatabase): Promise<number> {
  return republishState(db, {
    event: productRatingChanged,
    table: tables.productRatings,
    id: tables.productRatings.productId,
    stateOf: ratingOf,
  });
}

/**
 * Keeps the username read model current, never going back to an older
 * change, and rewrites the username kept on the author's reviews with it,
 * so `Review.author { username }` (served by this subgraph through
 * `@provides`) is never older than the read model.
 */
export function applyUserProfileChanged(db: ReviewsDatabase, event: DomainEvent<UserProfileChanged>): Promise<boolean> {
  return handleOnce(db, consumer, event, async (tx) => {
    const { userId, username, changedAt: at } = event.payload;
    const changedAt = new Date(at);
    // The row lock taken here orders this against other changes of the user and against
    // addReview, which reads the row FOR SHARE: no review is written with a name this misses.
    const applied = await tx
      .insert(tables.reviewAuthors)
      .values({ userId, username, changedAt })
      .onConflictDoUpdate({
        target: tables.reviewAuthors.userId,
        set: { username, changedAt },
        // Events can arrive out of order across relays: only a newer change wins.
        setWhere: lt(tables.reviewAuthors.changedAt, changedAt),
      })
      .returning({ userId: tables.reviewAuthors.userId });
    if (applied.length === 0) return;
    const renamed = await tx
      .update(tables.reviews)
      .set({ authorUsername: username })
      .where(and(eq(tables.reviews.authorId, userId), ne(tables.reviews.authorUsername, username)))
      .returning({ id: tables.reviews.id });
    if (renamed.length > 0) await reviewAuthorRenamed.record(tx, userId, { userId, username });
  });
}

/**
 * What the reviews subgraph produces and does with events: it folds its
 * own ReviewAdded into the rating projection (reading its own stream, as any
 * other projection would, so the write path never waits for it), and
 * follows accounts' usernames. Events of other types are not recorded in the
 * inbox.
 */
export const reviewsEvents: SubgraphEvents<typeof tables> = {
  publishes: [reviewAdded, productRatingChanged, reviewAuthorRenamed],
  republish: republishRatings,
  consumes: [
    on(reviewAdded, (event, db: ReviewsDatabase) => applyReviewAdded(db, event)),
    on(userProfileChanged, (event, db: ReviewsDatabase) => applyUserProfileChanged(db, event)),
  ],
};
