import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import { badUserInput } from '../../../platform/src/errors.ts';
import { pageSizes } from '../../../platform/src/graphql/pagination.ts';
import { asc } from 'drizzle-orm';
import type { Resolvers } from './__generated__/resolvers.ts';
import { listProducts } from './catalog.ts';
import { categories } from './db/schema.ts';
import { updateProductPrice } from './update-price.ts';

export const resolvers: Resolvers = {
  Mutation: {
    updateProductPrice: async (_, { productId, price }, { db }) => ({
      product: await updateProductPrice(db, productId, price),
    }),
  },
  Query: {
    product: (_, { id, sku }, { loaders }) => {
      if ((id == null) === (sku == null)) {
        throw badUserInput('Pass exactly one of `id` or `sku` to `product`.');
      }
      return id != null ? loaders.productById.load(parseIdArgument(id, 'id')) : loaders.productBySku.load(sku!);
    },
    productsById: (_, { ids }, { loaders }) => {
      if (ids.length > pageSizes.max) {
        throw badUserInput(`\`ids\` holds at most ${pageSizes.max} ids, got ${ids.length}.`, 'ids');
      }
      const parsed = ids.map((id) => parseIdArgument(id, 'ids'));
      return Promise.all(parsed.map((id) => loaders.productById.load(id)));
    },
    products: (_, args, { db }) => listProducts(db, args),
    categories: (_, __, { db }) => db.select().from(categories).orderBy(asc(categories.name)),
  },
  Product: {
    __resolveReference: (reference, { loaders }) =>
      'id' in reference && reference.id != null
        ? loaders.productById.load(reference.id)
        : loaders.productBySku.load((reference as { sku: string }).sku),
    price: (product) => ({ centAmount: product.priceCents, currencyCode: product.currencyCode }),
    // No row yet: reviews has stated no rating for the product, which has no review.
    averageRating: async (product, _, { loaders }) =>
      (await loaders.ratingByProduct.load(product.id))?.averageRating ?? null,
    reviewCount: async (product, _, { loaders }) => (await loaders.ratingByProduct.load(product.id))?.reviewCount ?? 0,
    category: async (product, _, { loaders }) => {
      const category = await loaders.categoryById.load(product.categoryId);
      // The foreign key guarantees the row; its absence is a bug worth an error.
      if (!category) throw new Error(`category ${product.categoryId} of product ${product.id} is missing`);
      return category;
    },
  },
};
