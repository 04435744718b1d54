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
  text,
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

/**
 * What this subgraph knows of product prices: a read model fed by the
 * products subgraph's ProductPriceChanged events (event-carried state
 * transfer), so an order is priced from data owned here, never from a
 * client and never by reading another subgraph's database.
 */
export const productPrices = pgTable(
  'product_prices',
  {
    productId: uuid('product_id').primaryKey(),
    unitPriceCents: integer('unit_price_cents').notNull(),
    currencyCode: char('currency_code', { length: 3 }).notNull(),
    // When the price was set at the source: an older event never overwrites a newer price.
    changedAt: timestamp('changed_at', { withTimezone: true, precision: 3 }).notNull(),
  },
  (table) => [check('product_prices_unit_price_non_negative', sql`${table.unitPriceCents} >= 0`)],
);

/**
 * One row per (user, idempotency key): the request it first came with (as
 * a hash) and the order it produced. Written in the same transaction as
 * the order, so a key never exists without its order, nor an order
 * without its key. Rows expire after a day.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: uuid('user_id').notNull(),
    key: text('key').notNull(),
    requestHash: char('request_hash', { length: 64 }).notNull(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, precision: 3 }).notNull(),
  },
  (table) => [
    primaryKey({ name: 'idempotency_keys_pkey', columns: [table.userId, table.key] }),
    index('idempotency_keys_expires_at_idx').on(table.expiresAt),
  ],
);

/**
 * Who has an account, as far as orders knows: a read model fed by the
 * accounts subgraph's UserProfileChanged events (each one says the account
 * exists), so a token for someone without an account cannot place or
 * cancel orders. Existence is all orders needs of an account.
 */
export const customers = pgTable('customers', {
  userId: uuid('user_id').primaryKey(),
  // When the account first reached orders, for whoever wonders why one is (not yet) here.
  knownSince: timestamp('known_since', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

export const ordersRelations = relations(orders, ({ many }) => ({ items: many(orderItems) }));

export const orderItemsRelations = relations(orderItems, ({ one }) => ({
  order: one(orders, { fields: [orderItems.orderId], references: [orders.id] }),
}));

export type OrderRow = typeof orders.$inferSelect;
/** An item carries its order's currency, which the row itself does not repeat. */
export type OrderItemRow = typeof orderItems.$inferSelect & { currencyCode: string };

// Events this subgraph publishes (OrderPlaced, OrderCancelled), and those of others it has applied.
export { outbox, processedEvents } from '../../../../platform/src/events/index.ts';
