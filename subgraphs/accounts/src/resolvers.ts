import { count } from 'drizzle-orm';
import { z } from 'zod';
import { keysetAfter, keysetOrderBy, type Keyset } from '../../../platform/src/db/keyset.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import { cursorCodec, parsePage, toConnection } from '../../../platform/src/graphql/pagination.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { users } from './db/schema.ts';

const newestFirst: Keyset = { sort: users.createdAt, id: users.id, direction: 'desc' };
const userCursor = cursorCodec('users', z.tuple([z.iso.datetime().transform((iso) => new Date(iso)), z.uuid()]));

export const resolvers: Resolvers = {
  Query: {
    user: (_, { id }, { loaders }) => loaders.userById.load(parseIdArgument(id, 'id')),
    users: async (_, args, { db }) => {
      const page = parsePage(args, userCursor);
      const rows = await db
        .select()
        .from(users)
        .where(page.after ? keysetAfter(newestFirst, page.after) : undefined)
        .orderBy(...keysetOrderBy(newestFirst))
        .limit(page.limit + 1);
      return toConnection(
        rows,
        page,
        (row) => userCursor.encode([row.createdAt.toISOString(), row.id]),
        async () => (await db.select({ total: count() }).from(users))[0]?.total ?? 0,
      );
    },
  },
  User: {
    __resolveReference: (reference, { loaders }) => loaders.userById.load(reference.id),
  },
};
