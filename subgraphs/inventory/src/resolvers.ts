import { streamEvents } from '../../../platform/src/subgraph/subscriptions.ts';
import type { Context } from './context.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { inventoryStream, stockReleased, stockReserved, stockRestocked } from './events.ts';
import { restock } from './restock.ts';
import { estimateShipping } from './shipping.ts';

export const resolvers: Resolvers = {
  Mutation: {
    restock: async (_, { productId, quantity }, { db }) => ({ product: await restock(db, productId, quantity) }),
  },
  Subscription: {
    stockChanged: {
      // Public: anyone may follow a product's stock, as anyone may read it.
      subscribe: (_, { productId, after }, context) =>
        streamEvents(context, {
          stream: inventoryStream,
          after,
          select: (event) => (movesStockOf(event, productId) ? { productId } : null),
        }),
      // What is on hand when the event is sent: a burst of changes shows the stock as it settles.
      resolve: async (source: unknown, _args: unknown, { loaders }: Context) => {
        // The source event as `subscribe` selected it, not the field's value.
        const { productId, position } = source as unknown as { productId: string; position: string };
        const quantity = (await loaders.stockByProductId.load(productId))?.quantity ?? 0;
        return { product: { id: productId, quantity }, quantity, inStock: quantity > 0, position };
      },
    },
  },
  Product: {
    // Every product has a stock level; one with no row yet has none on hand.
    __resolveReference: async (reference, { loaders }) => {
      const stock = await loaders.stockByProductId.load(reference.id);
      return { ...reference, quantity: stock?.quantity ?? 0 };
    },
    inStock: (product) => product.quantity > 0,
    shippingEstimate: (product) => {
      if (!product.price || product.weightGrams == null) return null;
      return {
        centAmount: estimateShipping(product.price.centAmount, product.weightGrams),
        currencyCode: product.price.currencyCode,
      };
    },
  },
};

/** The events that change what is on hand of a product. */
function movesStockOf(event: { type: string; payload: unknown }, productId: string): boolean {
  switch (event.type) {
    case stockReserved.type:
    case stockReleased.type:
      return (event.payload as { items: Array<{ productId: string }> }).items.some(
        (item) => item.productId === productId,
      );
    case stockRestocked.type:
      return (event.payload as { productId: string }).productId === productId;
    default:
      return false;
  }
}
