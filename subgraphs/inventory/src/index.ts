import { defineSubgraph } from '../../../platform/src/subgraph/definition.ts';
import { subgraphFolderOf } from '../../registry.ts';
import * as tables from './db/schema.ts';
import { inventoryEvents } from './consumers.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';
import { seed } from './seed.ts';

export const subgraph = defineSubgraph({
  name: 'inventory',
  root: subgraphFolderOf('inventory'),
  tables,
  resolvers,
  createLoaders,
  seed,
  seedTable: tables.stockLevels,
  events: inventoryEvents,
});
