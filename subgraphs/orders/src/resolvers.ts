import { childConnection } from '../../../platform/src/graphql/pagination.ts';
import { requireOwner } from '../../../platform/src/subgraph/authorization.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { orderCursor } from './loaders.ts';
import { cancelOrder, placeOrder } from './place-order.ts';

const money = (centAmount: number, currencyCode: string) => ({ centAmount, currencyCode });

export const resolvers: Resolvers = {
  Mutation: {
    // @authenticated: the viewer is there by the time these run.
    placeOrder: (_, { input }, { viewer, db }) => placeOrder(db, viewer!, input),
    cancelOrder: async (_, { id }, { viewer, db }) => ({ order: await cancelOrder(db, viewer!, id) }),
  },
  Order: {
    // Reached only from its owner's `orders` today; checked anyway, so a new path cannot leak one.
    __resolveReference: async (reference, { viewer, loaders }) => {
      const order = await loaders.orderById.load(reference.id);
      if (order) requireOwner(viewer, order.userId);
      return order;
    },
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
    orders: (user, args, { viewer, loaders }) => {
      requireOwner(viewer, user.id);
      return childConnection(user.id, args, {
        cursor: orderCursor,
        cursorOf: orderCursor.of,
        pages: loaders.ordersByUser,
        count: async (id) => (await loaders.orderCountByUser.load(id))?.count ?? 0,
      });
    },
  },
};
