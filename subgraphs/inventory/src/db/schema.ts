import { sql } from 'drizzle-orm';
import { check, integer, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Units on hand per product. The products subgraph owns the product itself. */
export const stockLevels = pgTable(
  'stock_levels',
  {
    productId: uuid('product_id').primaryKey(),
    quantity: integer('quantity').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [check('stock_levels_quantity_non_negative', sql`${table.quantity} >= 0`)],
);

export type StockLevelRow = typeof stockLevels.$inferSelect;
