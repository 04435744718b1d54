import { inArray } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { uuidKeys } from '../../../platform/src/graphql/ids.ts';
import { createRowLoader } from '../../../platform/src/graphql/loaders.ts';
import * as tables from './db/schema.ts';

export function createLoaders(db: Database<typeof tables>) {
  const { categories, productRatings, products } = tables;
  return {
    productById: createRowLoader({
      fetch: (ids: string[]) => db.select().from(products).where(inArray(products.id, ids)),
      keyOf: (row) => row.id,
      ...uuidKeys,
    }),
    productBySku: createRowLoader({
      fetch: (skus: string[]) => db.select().from(products).where(inArray(products.sku, skus)),
      keyOf: (row) => row.sku,
    }),
    ratingByProduct: createRowLoader({
      fetch: (ids: string[]) => db.select().from(productRatings).where(inArray(productRatings.productId, ids)),
      keyOf: (row) => row.productId,
      ...uuidKeys,
    }),
    categoryById: createRowLoader({
      fetch: (ids: string[]) => db.select().from(categories).where(inArray(categories.id, ids)),
      keyOf: (row) => row.id,
      ...uuidKeys,
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
