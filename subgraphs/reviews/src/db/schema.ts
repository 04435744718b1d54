import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, smallint, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const reviews = pgTable(
  'reviews',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    productId: uuid('product_id').notNull(),
    authorId: uuid('author_id').notNull(),
    // Denormalised from accounts so `Review.author { username }` needs no second fetch;
    // kept current from review_authors when the author renames.
    authorUsername: text('author_username').notNull(),
    rating: smallint('rating').notNull(),
    body: text('body').notNull(),
    // Millisecond precision, so a cursor carrying a JS Date finds its row exactly.
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [
    check('reviews_rating_range', sql`${table.rating} between 1 and 5`),
    // The pages of `Product.reviews` and `User.reviews`, newest first. Ascending on
    // purpose: scanned backwards it yields `created_at desc, id desc` (nulls first)
    // exactly, so a page stops after `first` rows; a DESC NULLS LAST index cannot.
    index('reviews_product_id_created_at_id_idx').on(table.productId, table.createdAt, table.id),
    index('reviews_author_id_created_at_id_idx').on(table.authorId, table.createdAt, table.id),
    // One review per author and product; addReview's insert relies on it to answer CONFLICT.
    uniqueIndex('reviews_author_id_product_id_key').on(table.authorId, table.productId),
  ],
);

export type ReviewRow = typeof reviews.$inferSelect;

/**
 * What this subgraph knows of users: the username reviews are signed with,
 * a read model fed by the accounts subgraph's UserProfileChanged events, so
 * a review takes its author's username from data owned here.
 */
export const reviewAuthors = pgTable('review_authors', {
  userId: uuid('user_id').primaryKey(),
  username: text('username').notNull(),
  // When the profile changed at the source: an older event never overwrites a newer username.
  changedAt: timestamp('changed_at', { withTimezone: true, precision: 3 }).notNull(),
});

/**
 * The rating projection (a CQRS read model): per product, how many reviews
 * and the sum of their ratings, folded from this subgraph's own ReviewAdded
 * events. `Product.averageRating` and `reviewCount` read one row instead of
 * aggregating the reviews on every request. The seed writes a row for every
 * catalog product, so a product without a row is one the catalog lacks.
 */
export const productRatings = pgTable(
  'product_ratings',
  {
    productId: uuid('product_id').primaryKey(),
    reviewCount: integer('review_count').notNull().default(0),
    ratingSum: integer('rating_sum').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [
    // Every rating is 1 to 5, so the sum lies between one and five per review.
    check(
      'product_ratings_sum_in_range',
      sql`${table.ratingSum} between ${table.reviewCount} and 5 * ${table.reviewCount}`,
    ),
  ],
);

export type ProductRatingRow = typeof productRatings.$inferSelect;

// Events this subgraph publishes (ReviewAdded, ProductRatingChanged, ReviewAuthorRenamed), and those it has applied.
export { outbox, processedEvents } from '../../../../platform/src/events/index.ts';
