import { sql } from 'drizzle-orm';
import { check, index, pgTable, smallint, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const reviews = pgTable(
  'reviews',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    productId: uuid('product_id').notNull(),
    authorId: uuid('author_id').notNull(),
    // Denormalised from accounts so `Review.author { username }` needs no second fetch.
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
  ],
);

export type ReviewRow = typeof reviews.$inferSelect;
