import { sql } from 'drizzle-orm';
import { check, integer, jsonb, pgEnum, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';

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

export const reservationStatus = pgEnum('reservation_status', ['RESERVED', 'RELEASED']);

/**
 * The stock an order took, so cancelling it gives back exactly that. One
 * row per order: an order's reservation is all of its lines or nothing.
 */
export const reservations = pgTable('reservations', {
  orderId: uuid('order_id').primaryKey(),
  items: jsonb('items').$type<Array<{ productId: string; quantity: number }>>().notNull(),
  status: reservationStatus('status').notNull().default('RESERVED'),
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

// Events this subgraph publishes (StockReserved, StockRejected), and those of others it has applied.
export { outbox, processedEvents } from '../../../../platform/src/events/index.ts';
