import { inArray } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { uuidKeys } from '../../../platform/src/graphql/ids.ts';
import { createRowLoader } from '../../../platform/src/graphql/loaders.ts';
import * as tables from './db/schema.ts';

export function createLoaders(db: Database<typeof tables>) {
  const { stockLevels } = tables;
  return {
    stockByProductId: createRowLoader({
      fetch: (ids: string[]) => db.select().from(stockLevels).where(inArray(stockLevels.productId, ids)),
      keyOf: (row) => row.productId,
      ...uuidKeys,
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
