import { and, eq, lt } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { handleOnce, newEvent, recordEvents } from '../../../platform/src/events/index.ts';
import type { SubgraphEvents } from '../../../platform/src/subgraph/definition.ts';
import { applyUserProfileChanged } from './customers.ts';
import * as tables from './db/schema.ts';

/** The stream this subgraph publishes to. */
export const ordersStream = 'orders';

export interface OrderPlaced {
  orderId: string;
  userId: string;
  items: Array<{ productId: string; quantity: number; unitPriceCents: number }>;
  totalCents: number;
  currencyCode: string;
}

export interface OrderCancelled {
  orderId: string;
  userId: string;
}

/** What inventory answers an OrderPlaced with. */
interface StockDecision {
  orderId: string;
}

/** What products says when a price changes: the whole new state, so the read model needs nothing else. */
interface ProductPriceChanged {
  productId: string;
  unitPriceCents: number;
  currencyCode: string;
  changedAt: string;
}

type OrdersDatabase = Database<typeof tables>;

/**
 * What the orders subgraph does with other subgraphs' events: an order
 * becomes CONFIRMED or REJECTED once inventory has decided (only while it is
 * still PENDING: a cancelled order stays cancelled), announced as
 * OrderConfirmed or OrderRejected, and the price read
 * model follows the catalog, never going back to an older price.
 */
export const ordersEvents: SubgraphEvents<typeof tables> = {
  publishes: true,
  consumes: [
    {
      stream: 'inventory',
      handle: (event, db: OrdersDatabase) =>
        handleOnce(db, 'orders', event, async (tx) => {
          const status =
            event.type === 'StockReserved' ? 'CONFIRMED' : event.type === 'StockRejected' ? 'REJECTED' : null;
          if (!status) return;
          const { orderId } = event.payload as StockDecision;
          const [decided] = await tx
            .update(tables.orders)
            .set({ status })
            .where(and(eq(tables.orders.id, orderId), eq(tables.orders.status, 'PENDING')))
            .returning();
          // Said once the status has changed, so whoever caches orders drops them after, not before.
          if (decided)
            await recordEvents(tx, ordersStream, [
              newEvent(status === 'CONFIRMED' ? 'OrderConfirmed' : 'OrderRejected', orderId, {
                orderId,
                userId: decided.userId,
              }),
            ]);
        }).then(() => undefined),
    },
    {
      stream: 'products',
      handle: (event, db: OrdersDatabase) =>
        handleOnce(db, 'orders', event, async (tx) => {
          if (event.type !== 'ProductPriceChanged') return;
          const price = event.payload as ProductPriceChanged;
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
        }).then(() => undefined),
    },
    {
      // Which accounts exist, so only their holders place and cancel orders (customers.ts).
      stream: 'accounts',
      handle: async (event, db: OrdersDatabase) => {
        if (event.type === 'UserProfileChanged') await applyUserProfileChanged(db, event);
      },
    },
  ],
};
