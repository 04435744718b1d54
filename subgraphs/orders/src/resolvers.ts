import { childConnection } from '../../../platform/src/graphql/pagination.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { orderCursor } from './loaders.ts';

const money = (centAmount: number, currencyCode: string) => ({ centAmount, currencyCode });

export const resolvers: Resolvers = {
  Order: {
    __resolveReference: (reference, { loaders }) => loaders.orderById.load(reference.id),
    user: (order) => ({ id: order.userId }),
    items: (order, _, { loaders }) => loaders.itemsByOrder.load(order.id),
    total: (order) => money(order.totalCents, order.currencyCode),
  },
  OrderItem: {
    product: (item) => ({ id: item.productId }),
    unitPrice: (item) => money(item.unitPriceCents, item.currencyCode),
    subtotal: (item) => money(item.unitPriceCents * item.quantity, item.currencyCode),
  },
  User: {
    __resolveReference: (reference) => ({ id: reference.id }),
    orders: (user, args, { loaders }) =>
      childConnection(user.id, args, {
        cursor: orderCursor,
        cursorOf: orderCursor.of,
        pages: loaders.ordersByUser,
        count: async (id) => (await loaders.orderCountByUser.load(id))?.count ?? 0,
      }),
  },
};
