import { z } from 'zod';
import { defineEvent, entityTag, rootListTag } from '../../../platform/src/events/index.ts';

/** The stream this subgraph publishes to. */
export const productsStream = 'products';

/**
 * A product's price as of now: the whole state, so the orders subgraph
 * prices from it alone, and `changedAt` (ISO-8601) lets its read model keep
 * only the newest.
 */
export const productPriceChanged = defineEvent({
  type: 'ProductPriceChanged',
  stream: productsStream,
  schema: z.object({
    productId: z.string(),
    unitPriceCents: z.number().int().nonnegative(),
    currencyCode: z.string(),
    changedAt: z.iso.datetime(),
  }),
  // The price shows wherever the product does, and can move it into or out of a catalog page
  // filtered or ordered by price: those pages are purged as a whole.
  invalidates: ({ productId }) => [entityTag('Product', productId), rootListTag('products')],
});

export type ProductPriceChanged = z.infer<typeof productPriceChanged.schema>;
