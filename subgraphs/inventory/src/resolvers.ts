import type { Resolvers } from './__generated__/resolvers.ts';
import { restock } from './restock.ts';
import { estimateShipping } from './shipping.ts';

export const resolvers: Resolvers = {
  Mutation: {
    restock: async (_, { productId, quantity }, { db }) => ({ product: await restock(db, productId, quantity) }),
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
