import { defineSubgraph } from '../../../platform/src/subgraph/definition.ts';
import { subgraphFolderOf } from '../../registry.ts';
import * as tables from './db/schema.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';
import { seed } from './seed.ts';
import { productPriceChanged } from './events.ts';
import { ratingsConsumer } from './ratings.ts';
import { republishPrices } from './update-price.ts';

export const subgraph = defineSubgraph({
  name: 'products',
  root: subgraphFolderOf('products'),
  tables,
  resolvers,
  createLoaders,
  seed,
  // ProductPriceChanged, on the `products` stream; ratings follow reviews' ProductRatingChanged.
  events: { publishes: [productPriceChanged], consumes: [ratingsConsumer], republish: republishPrices },
  // The table filled last, so a database seeded before it existed is completed (every insert skips what is there).
  seedTable: tables.productRatings,
});
