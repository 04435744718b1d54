import { defineSubgraph } from '../../../platform/src/subgraph/definition.ts';
import { subgraphFolderOf } from '../../registry.ts';
import * as tables from './db/schema.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';
import { seed } from './seed.ts';
import { userProfileChanged } from './events.ts';
import { republishProfiles } from './update-profile.ts';

export const subgraph = defineSubgraph({
  name: 'accounts',
  root: subgraphFolderOf('accounts'),
  tables,
  resolvers,
  createLoaders,
  seed,
  seedTable: tables.users,
  // UserProfileChanged, on the `accounts` stream; accounts consumes nothing.
  events: { publishes: [userProfileChanged], republish: republishProfiles },
});
