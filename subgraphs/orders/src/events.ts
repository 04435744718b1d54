import { z } from 'zod';
import { defineEvent, entityTag } from '../../../platform/src/events/index.ts';

/** The stream this subgraph publishes to. */
export const ordersStream = 'orders';

/** Who an order belongs to: every order event names it, so caches of the order and its owner can follow. */
const orderOfUser = z.object({ orderId: z.string(), userId: z.string() });

/** An order was placed, PENDING until inventory decides; its lines priced as they were charged. */
export const orderPlaced = defineEvent({
  type: 'OrderPlaced',
  stream: ordersStream,
  schema: orderOfUser.extend({
    items: z
      .array(
        z.object({
          productId: z.string(),
          quantity: z.number().int().positive(),
          unitPriceCents: z.number().int().nonnegative(),
        }),
      )
      .min(1),
    totalCents: z.number().int().nonnegative(),
    currencyCode: z.string(),
  }),
  // The order, and its owner's order list, which it joins.
  invalidates: ({ orderId, userId }) => [entityTag('Order', orderId), entityTag('User', userId)],
});

/** The owner cancelled the order; inventory gives back what it had reserved. */
export const orderCancelled = defineEvent({
  type: 'OrderCancelled',
  stream: ordersStream,
  schema: orderOfUser,
  invalidates: ({ orderId }) => [entityTag('Order', orderId)],
});

// Sent once the order's status has changed, so a cache purged by them never reads the old status back.

/** Inventory reserved the order's stock: the order is CONFIRMED. */
export const orderConfirmed = defineEvent({
  type: 'OrderConfirmed',
  stream: ordersStream,
  schema: orderOfUser,
  invalidates: ({ orderId }) => [entityTag('Order', orderId)],
});

/** Inventory could not cover the order: it is REJECTED. */
export const orderRejected = defineEvent({
  type: 'OrderRejected',
  stream: ordersStream,
  schema: orderOfUser,
  invalidates: ({ orderId }) => [entityTag('Order', orderId)],
});

export type OrderPlaced = z.infer<typeof orderPlaced.schema>;
export type OrderCancelled = z.infer<typeof orderCancelled.schema>;
