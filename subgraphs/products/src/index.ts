import { defineSubgraph } from '../../../platform/src/subgraph/definition.ts';
import * as tables from './db/schema.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';
import { seed } from './seed.ts';
import { productPriceChanged } from './events.ts';
import { republishPrices } from './update-price.ts';

export const subgraph = defineSubgraph({
  name: 'products',
  root: new URL('..', import.meta.url),
  tables,
  resolvers,
  createLoaders,
  seed,
  // ProductPriceChanged, on the `products` stream.
  events: { publishes: [productPriceChanged], republish: republishPrices },
  seedTable: tables.products,
});
