import { defineSubgraph } from '../../../platform/src/subgraph/definition.ts';
import { subgraphFolderOf } from '../../registry.ts';
import * as tables from './db/schema.ts';
import { reviewsEvents } from './consumers.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';
import { seed } from './seed.ts';

export const subgraph = defineSubgraph({
  name: 'reviews',
  root: subgraphFolderOf('reviews'),
  tables,
  resolvers,
  createLoaders,
  seed,
  // The table filled last, so a database seeded before it existed is completed (every insert skips what is there).
  seedTable: tables.productRatings,
  events: reviewsEvents,
});
