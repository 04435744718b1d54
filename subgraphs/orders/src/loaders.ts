import { asc, count, eq, inArray } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { selectPagePerParent, type Keyset } from '../../../platform/src/db/keyset.ts';
import { uuidKeys } from '../../../platform/src/graphql/ids.ts';
import { createGroupLoader, createPagedGroupLoader, createRowLoader } from '../../../platform/src/graphql/loaders.ts';
import { newestFirstCursor, type Page } from '../../../platform/src/graphql/pagination.ts';
import * as tables from './db/schema.ts';

const { orderItems, orders } = tables;

const newestFirst: Keyset = { sort: orders.createdAt, id: orders.id, direction: 'desc' };

export const orderCursor = newestFirstCursor('orders');

export type OrderPage = Page<[Date, string]>;

export function createLoaders(db: Database<typeof tables>) {
  return {
    orderById: createRowLoader({
      fetch: (ids: string[]) => db.select().from(orders).where(inArray(orders.id, ids)),
      keyOf: (row) => row.id,
      ...uuidKeys,
    }),
    itemsByOrder: createGroupLoader({
      fetch: async (orderIds: string[]) =>
        db
          .select({ item: orderItems, currencyCode: orders.currencyCode })
          .from(orderItems)
          .innerJoin(orders, eq(orders.id, orderItems.orderId))
          .where(inArray(orderItems.orderId, orderIds))
          .orderBy(asc(orderItems.orderId), asc(orderItems.lineNumber))
          .then((rows) => rows.map(({ item, currencyCode }) => ({ ...item, currencyCode }))),
      groupOf: (row) => row.orderId,
      ...uuidKeys,
    }),
    ordersByUser: createPagedGroupLoader({
      fetch: (userIds, page: OrderPage) =>
        selectPagePerParent(db, {
          table: orders,
          parent: orders.userId,
          parentIds: userIds,
          keyset: newestFirst,
          after: page.after,
          limit: page.limit,
        }),
      parentOf: (row) => row.userId,
      ...uuidKeys,
    }),
    orderCountByUser: createRowLoader({
      fetch: (userIds: string[]) =>
        db
          .select({ userId: orders.userId, count: count() })
          .from(orders)
          .where(inArray(orders.userId, userIds))
          .groupBy(orders.userId),
      keyOf: (row) => row.userId,
      ...uuidKeys,
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
