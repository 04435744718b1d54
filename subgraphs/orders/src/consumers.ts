import { and, eq, lt } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { handleOnce, on, type DomainEvent } from '../../../platform/src/events/index.ts';
import type { SubgraphEvents } from '../../../platform/src/subgraph/definition.ts';
import { userProfileChanged } from '../../accounts/src/events.ts';
import { stockRejected, stockReserved } from '../../inventory/src/events.ts';
import { productPriceChanged } from '../../products/src/events.ts';
import { applyUserProfileChanged } from './customers.ts';
import * as tables from './db/schema.ts';
import { orderCancelled, orderConfirmed, orderPlaced, orderRejected } from './events.ts';

type OrdersDatabase = Database<typeof tables>;

/**
 * Decides a PENDING order once inventory has (a cancelled order stays
 * cancelled), and says so in the same transaction, once the status has
 * changed, so whoever caches orders drops them after, not before.
 */
async function decide(
  db: OrdersDatabase,
  event: DomainEvent<{ orderId: string }>,
  status: 'CONFIRMED' | 'REJECTED',
): Promise<void> {
  const { orderId } = event.payload;
  await handleOnce(db, 'orders', event, async (tx) => {
    const [decided] = await tx
      .update(tables.orders)
      .set({ status })
      .where(and(eq(tables.orders.id, orderId), eq(tables.orders.status, 'PENDING')))
      .returning();
    if (!decided) return;
    const announced = status === 'CONFIRMED' ? orderConfirmed : orderRejected;
    await announced.record(tx, orderId, { orderId, userId: decided.userId });
  });
}

/**
 * What the orders subgraph produces, and what it does with other
 * subgraphs' events: an order becomes CONFIRMED or REJECTED once inventory
 * has decided, announced as OrderConfirmed or OrderRejected; the price read
 * model follows the catalog, never going back to an older price; and the
 * accounts that exist are known, so only their holders place orders.
 */
export const ordersEvents: SubgraphEvents<typeof tables> = {
  publishes: [orderPlaced, orderCancelled, orderConfirmed, orderRejected],
  consumes: [
    on(stockReserved, (event, db: OrdersDatabase) => decide(db, event, 'CONFIRMED')),
    on(stockRejected, (event, db: OrdersDatabase) => decide(db, event, 'REJECTED')),
    on(productPriceChanged, (event, db: OrdersDatabase) =>
      handleOnce(db, 'orders', event, async (tx) => {
        const price = event.payload;
        const changedAt = new Date(price.changedAt);
        await tx
          .insert(tables.productPrices)
          .values({ ...price, changedAt })
          .onConflictDoUpdate({
            target: tables.productPrices.productId,
            set: { unitPriceCents: price.unitPriceCents, currencyCode: price.currencyCode, changedAt },
            // Events can arrive out of order across relays: only a newer price wins.
            setWhere: lt(tables.productPrices.changedAt, changedAt),
          });
      }),
    ),
    on(userProfileChanged, (event, db: OrdersDatabase) => applyUserProfileChanged(db, event)),
  ],
};
