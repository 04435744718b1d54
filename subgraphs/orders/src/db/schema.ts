import { relations, sql } from 'drizzle-orm';
import {
  char,
  check,
  index,
  integer,
  pgEnum,
  pgTable,
  primaryKey,
  smallint,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

export const orderStatus = pgEnum('order_status', [
  'PENDING',
  'CONFIRMED',
  'REJECTED',
  'SHIPPED',
  'DELIVERED',
  'CANCELLED',
]);

export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id').notNull(),
    status: orderStatus('status').notNull().default('PENDING'),
    // Stored, not summed on read: the total charged must never change with later edits.
    totalCents: integer('total_cents').notNull(),
    currencyCode: char('currency_code', { length: 3 }).notNull().default('USD'),
    // Millisecond precision, so a cursor carrying a JS Date finds its row exactly.
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [
    check('orders_total_non_negative', sql`${table.totalCents} >= 0`),
    // `User.orders`, newest first: scanned backwards (see reviews_product_id_created_at_id_idx).
    index('orders_user_id_created_at_id_idx').on(table.userId, table.createdAt, table.id),
  ],
);

export const orderItems = pgTable(
  'order_items',
  {
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    lineNumber: smallint('line_number').notNull(),
    productId: uuid('product_id').notNull(),
    quantity: integer('quantity').notNull(),
    unitPriceCents: integer('unit_price_cents').notNull(),
  },
  (table) => [
    primaryKey({ name: 'order_items_pkey', columns: [table.orderId, table.lineNumber] }),
    check('order_items_quantity_positive', sql`${table.quantity} > 0`),
    check('order_items_unit_price_non_negative', sql`${table.unitPriceCents} >= 0`),
  ],
);

export const ordersRelations = relations(orders, ({ many }) => ({ items: many(orderItems) }));

export const orderItemsRelations = relations(orderItems, ({ one }) => ({
  order: one(orders, { fields: [orderItems.orderId], references: [orders.id] }),
}));

export type OrderRow = typeof orders.$inferSelect;
/** An item carries its order's currency, which the row itself does not repeat. */
export type OrderItemRow = typeof orderItems.$inferSelect & { currencyCode: string };
