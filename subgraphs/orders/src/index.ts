import { defineSubgraph, every } from '../../../platform/src/subgraph/definition.ts';
import { subgraphFolderOf } from '../../registry.ts';
import * as tables from './db/schema.ts';
import { createLoaders } from './loaders.ts';
import { ordersEvents } from './consumers.ts';
import { deleteExpiredIdempotencyKeys } from './place-order.ts';
import { resolvers } from './resolvers.ts';
import { seed } from './seed.ts';

export const subgraph = defineSubgraph({
  name: 'orders',
  root: subgraphFolderOf('orders'),
  tables,
  resolvers,
  createLoaders,
  seed,
  // The table filled last, so a database seeded before it existed is completed (every insert skips what is there).
  seedTable: tables.customers,
  events: ordersEvents,
  background: ({ db, logger }) =>
    every(10 * 60_000, 'delete expired idempotency keys', logger, () => deleteExpiredIdempotencyKeys(db)),
});
