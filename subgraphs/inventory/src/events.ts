import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { handleOnce, newEvent, recordEvents, type DatabaseTransaction } from '../../../platform/src/events/index.ts';
import type { SubgraphEvents } from '../../../platform/src/subgraph/definition.ts';
import * as tables from './db/schema.ts';

/** The stream this subgraph publishes to. */
export const inventoryStream = 'inventory';

interface OrderPlaced {
  orderId: string;
  items: Array<{ productId: string; quantity: number }>;
}

interface OrderCancelled {
  orderId: string;
}

/** Stock given back, with the quantities per product: said in the transaction that adds it back. */
export interface StockReleased {
  orderId: string;
  items: Array<{ productId: string; quantity: number }>;
}

/** Units added to a product's stock by `restock`, and what is now on hand. */
export interface StockRestocked {
  productId: string;
  added: number;
  quantity: number;
}

export interface StockRejected {
  orderId: string;
  /** Lines that could not be covered, with what was on hand. */
  shortfalls: Array<{ productId: string; requested: number; available: number }>;
}

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
    await recordEvents(tx, inventoryStream, [
      newEvent<StockRejected>('StockRejected', order.orderId, { orderId: order.orderId, shortfalls }),
    ]);
    return;
  }
  for (const item of order.items) {
    await tx
      .update(tables.stockLevels)
      .set({ quantity: sql`${tables.stockLevels.quantity} - ${item.quantity}`, updatedAt: sql`now()` })
      .where(eq(tables.stockLevels.productId, item.productId));
  }
  await tx.insert(tables.reservations).values({ orderId: order.orderId, items: order.items });
  await recordEvents(tx, inventoryStream, [
    newEvent('StockReserved', order.orderId, { orderId: order.orderId, items: order.items }),
  ]);
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
  await recordEvents(tx, inventoryStream, [
    newEvent<StockReleased>('StockReleased', orderId, { orderId, items: reservation.items }),
  ]);
}

export const inventoryEvents: SubgraphEvents<typeof tables> = {
  publishes: true,
  consumes: [
    {
      stream: 'orders',
      handle: (event, db: Database<typeof tables>) =>
        handleOnce(db, 'inventory', event, async (tx) => {
          if (event.type === 'OrderPlaced') await reserve(tx, event.payload as OrderPlaced);
          else if (event.type === 'OrderCancelled') await release(tx, event.payload as OrderCancelled);
        }).then(() => undefined),
    },
  ],
};
