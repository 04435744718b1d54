import { count } from 'drizzle-orm';
import { selectPage, type Keyset } from '../../../platform/src/db/keyset.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import { requireOwner } from '../../../platform/src/subgraph/authorization.ts';
import { newestFirstCursor, parsePage, toConnection } from '../../../platform/src/graphql/pagination.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { users } from './db/schema.ts';
import { updateProfile } from './update-profile.ts';

const newestFirst: Keyset = { sort: users.createdAt, id: users.id, direction: 'desc' };
const userCursor = newestFirstCursor('users');

export const resolvers: Resolvers = {
  Mutation: {
    // @authenticated: the viewer is there by the time this runs.
    updateProfile: async (_, { input }, { viewer, db }) => ({ user: await updateProfile(db, viewer!, input) }),
  },
  Query: {
    viewer: (_, __, { viewer, loaders }) => loaders.userById.load(viewer!.id),
    user: (_, { id }, { loaders }) => loaders.userById.load(parseIdArgument(id, 'id')),
    users: async (_, args, { db }) => {
      const page = parsePage(args, userCursor);
      const rows = await selectPage(db, { table: users, keyset: newestFirst, ...page });
      return toConnection(
        rows,
        page,
        userCursor.of,
        async () => (await db.select({ total: count() }).from(users))[0]?.total ?? 0,
      );
    },
  },
  User: {
    __resolveReference: (reference, { loaders }) => loaders.userById.load(reference.id),
    email: (user, _, { viewer }) => {
      requireOwner(viewer, user.id);
      return user.email;
    },
  },
};
