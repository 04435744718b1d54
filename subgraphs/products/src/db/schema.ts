import { relations } from 'drizzle-orm';
import { char, index, integer, numeric, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const categories = pgTable('categories', {
  id: uuid('id').primaryKey().defaultRandom(),
  slug: text('slug').notNull().unique('categories_slug_key'),
  name: text('name').notNull(),
});

export const products = pgTable(
  'products',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    sku: text('sku').notNull().unique('products_sku_key'),
    name: text('name').notNull(),
    description: text('description').notNull(),
    priceCents: integer('price_cents').notNull(),
    currencyCode: char('currency_code', { length: 3 }).notNull().default('USD'),
    weightGrams: integer('weight_grams').notNull(),
    categoryId: uuid('category_id')
      .notNull()
      .references(() => categories.id),
    // Millisecond precision, so a cursor carrying a JS Date finds its row exactly.
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [
    // One index per catalog ordering, each with the id tie-breaker of its keyset.
    index('products_created_at_id_idx').on(table.createdAt, table.id),
    index('products_price_cents_id_idx').on(table.priceCents, table.id),
    index('products_name_id_idx').on(table.name, table.id),
    index('products_category_id_idx').on(table.categoryId),
  ],
);

export const categoriesRelations = relations(categories, ({ many }) => ({ products: many(products) }));

export const productsRelations = relations(products, ({ one }) => ({
  category: one(categories, { fields: [products.categoryId], references: [categories.id] }),
}));

/**
 * A read model of each product's rating, as the reviews subgraph states it
 * in ProductRatingChanged: what lets this subgraph serve
 * `Product.averageRating` and `reviewCount` (taken over from reviews with
 * `@override`). A product without a row has no review yet.
 */
export const productRatings = pgTable('product_ratings', {
  productId: uuid('product_id').primaryKey(),
  reviewCount: integer('review_count').notNull(),
  // Two decimals exactly, as the event carries it; null before the first review.
  averageRating: numeric('average_rating', { precision: 3, scale: 2, mode: 'number' }),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

export type CategoryRow = typeof categories.$inferSelect;
export type ProductRow = typeof products.$inferSelect;
export type ProductRatingRow = typeof productRatings.$inferSelect;

// Events this subgraph publishes (ProductPriceChanged), and those it has applied (ProductRatingChanged).
export { outbox, processedEvents } from '../../../../platform/src/events/index.ts';
