import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { handleOnce, on, type DatabaseTransaction } from '../../../platform/src/events/index.ts';
import type { SubgraphEvents } from '../../../platform/src/subgraph/definition.ts';
import { orderCancelled, orderPlaced, type OrderCancelled, type OrderPlaced } from '../../orders/src/events.ts';
import * as tables from './db/schema.ts';
import { stockRejected, stockReleased, stockReserved, stockRestocked } from './events.ts';

type Transaction = DatabaseTransaction<typeof tables>;

/**
 * Reserves an order's stock, all lines or none. The stock rows are locked
 * in product order (so two reservations never deadlock), checked, and only
 * then decremented; the check constraint keeps quantities non-negative
 * whatever happens. The decision is recorded in the same transaction.
 */
async function reserve(tx: Transaction, order: OrderPlaced): Promise<void> {
  const ids = [...new Set(order.items.map((item) => item.productId))].sort();
  const onHand = new Map(
    (
      await tx
        .select()
        .from(tables.stockLevels)
        .where(inArray(tables.stockLevels.productId, ids))
        .orderBy(asc(tables.stockLevels.productId))
        .for('update')
    ).map((row) => [row.productId, row.quantity]),
  );
  const shortfalls = order.items
    .map((item) => ({
      productId: item.productId,
      requested: item.quantity,
      available: onHand.get(item.productId) ?? 0,
    }))
    .filter((line) => line.available < line.requested);
  if (shortfalls.length > 0) {
    await stockRejected.record(tx, order.orderId, { orderId: order.orderId, shortfalls });
    return;
  }
  for (const item of order.items) {
    await tx
      .update(tables.stockLevels)
      .set({ quantity: sql`${tables.stockLevels.quantity} - ${item.quantity}`, updatedAt: sql`now()` })
      .where(eq(tables.stockLevels.productId, item.productId));
  }
  await tx.insert(tables.reservations).values({ orderId: order.orderId, items: order.items });
  await stockReserved.record(tx, order.orderId, {
    orderId: order.orderId,
    items: order.items.map(({ productId, quantity }) => ({ productId, quantity })),
  });
}

/**
 * Gives back what a cancelled order had reserved, once, and says so in the
 * same transaction: whoever caches stock (the router's response cache)
 * drops it once the release has committed. A rejected order reserved
 * nothing, so it has nothing to give back.
 */
async function release(tx: Transaction, { orderId }: OrderCancelled): Promise<void> {
  const [reservation] = await tx
    .update(tables.reservations)
    .set({ status: 'RELEASED' })
    .where(and(eq(tables.reservations.orderId, orderId), eq(tables.reservations.status, 'RESERVED')))
    .returning();
  if (!reservation) return;
  for (const item of reservation.items) {
    await tx
      .update(tables.stockLevels)
      .set({ quantity: sql`${tables.stockLevels.quantity} + ${item.quantity}`, updatedAt: sql`now()` })
      .where(eq(tables.stockLevels.productId, item.productId));
  }
  await stockReleased.record(tx, orderId, {
    orderId,
    items: reservation.items.map(({ productId, quantity }) => ({ productId, quantity })),
  });
}

/** What inventory produces, and how it answers orders: a placed order's stock is reserved, a cancelled one's released. */
export const inventoryEvents: SubgraphEvents<typeof tables> = {
  publishes: [stockReserved, stockRejected, stockReleased, stockRestocked],
  consumes: [
    on(orderPlaced, (event, db: Database<typeof tables>) =>
      handleOnce(db, 'inventory', event, (tx) => reserve(tx, event.payload)),
    ),
    on(orderCancelled, (event, db: Database<typeof tables>) =>
      handleOnce(db, 'inventory', event, (tx) => release(tx, event.payload)),
    ),
  ],
};
