import { inArray } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { uuidKeys } from '../../../platform/src/graphql/ids.ts';
import { createRowLoader } from '../../../platform/src/graphql/loaders.ts';
import * as tables from './db/schema.ts';

export function createLoaders(db: Database<typeof tables>) {
  const { users } = tables;
  return {
    userById: createRowLoader({
      fetch: (ids: string[]) => db.select().from(users).where(inArray(users.id, ids)),
      keyOf: (row) => row.id,
      ...uuidKeys,
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
