import { z } from 'zod';
import { defineEvent, entityTag } from '../../../platform/src/events/index.ts';

/** The stream this subgraph publishes to. */
export const inventoryStream = 'inventory';

const stockLines = z.array(z.object({ productId: z.string(), quantity: z.number().int().positive() }));

/** Every product whose stock a set of lines moved. */
const productsIn = (items: ReadonlyArray<{ productId: string }>) =>
  items.map(({ productId }) => entityTag('Product', productId));

/** An order's stock was reserved, all lines at once: taken from what is on hand. */
export const stockReserved = defineEvent({
  type: 'StockReserved',
  stream: inventoryStream,
  schema: z.object({ orderId: z.string(), items: stockLines }),
  invalidates: ({ items }) => productsIn(items),
});

/** An order could not be covered; nothing was taken. */
export const stockRejected = defineEvent({
  type: 'StockRejected',
  stream: inventoryStream,
  schema: z.object({
    orderId: z.string(),
    /** Lines that could not be covered, with what was on hand. */
    shortfalls: z.array(z.object({ productId: z.string(), requested: z.number().int(), available: z.number().int() })),
  }),
  // No stock moved; the order's own status changes with the OrderRejected that follows.
  invalidates: () => [],
});

/** Stock a cancelled order had reserved, given back: said in the transaction that adds it back. */
export const stockReleased = defineEvent({
  type: 'StockReleased',
  stream: inventoryStream,
  schema: z.object({ orderId: z.string(), items: stockLines }),
  invalidates: ({ items }) => productsIn(items),
});

/** Units added to a product's stock by `restock`, and what is now on hand. */
export const stockRestocked = defineEvent({
  type: 'StockRestocked',
  stream: inventoryStream,
  schema: z.object({
    productId: z.string(),
    added: z.number().int().positive(),
    quantity: z.number().int().nonnegative(),
  }),
  invalidates: ({ productId }) => [entityTag('Product', productId)],
});
