import { relations } from 'drizzle-orm';
import { char, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

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

export type CategoryRow = typeof categories.$inferSelect;
export type ProductRow = typeof products.$inferSelect;

// Events this subgraph publishes (ProductPriceChanged).
export { outbox } from '../../../../platform/src/events/index.ts';
