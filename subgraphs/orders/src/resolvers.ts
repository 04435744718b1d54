import { childConnection } from '../../../platform/src/graphql/pagination.ts';
import { requireOwner } from '../../../platform/src/subgraph/authorization.ts';
import { streamEvents } from '../../../platform/src/subgraph/subscriptions.ts';
import type { Context } from './context.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { orderCancelled, orderConfirmed, orderPlaced, orderRejected, ordersStream } from './events.ts';
import { orderCursor } from './loaders.ts';
import { cancelOrder, placeOrder } from './place-order.ts';

const money = (centAmount: number, currencyCode: string) => ({ centAmount, currencyCode });

export const resolvers: Resolvers = {
  Mutation: {
    // @authenticated: the viewer is there by the time these run.
    placeOrder: (_, { input }, { viewer, db }) => placeOrder(db, viewer!, input),
    cancelOrder: async (_, { id }, { viewer, db }) => ({ order: await cancelOrder(db, viewer!, id) }),
  },
  Subscription: {
    orderUpdated: {
      // @authenticated: checked before this runs. Only the shopper's own orders are selected, so none other is read.
      subscribe: (_, { after }, context) => {
        const shopper = context.viewer!.id.toLowerCase();
        return streamEvents(context, {
          stream: ordersStream,
          after,
          select: (event) => {
            if (!orderChanges.has(event.type)) return null;
            const { orderId, userId } = event.payload as { orderId: string; userId: string };
            return userId.toLowerCase() === shopper ? { orderId } : null;
          },
        });
      },
      resolve: async (source: unknown, _args: unknown, { viewer, loaders }: Context) => {
        // The source event as `subscribe` selected it, not the field's value.
        const { orderId, position } = source as unknown as { orderId: string; position: string };
        const order = await loaders.orderById.load(orderId);
        if (!order) throw new Error(`order ${orderId} of an order event is missing`);
        requireOwner(viewer, order.userId);
        return { order, position };
      },
    },
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

/** The events that change an order's status. */
const orderChanges: ReadonlySet<string> = new Set(
  [orderPlaced, orderConfirmed, orderRejected, orderCancelled].map((definition) => definition.type),
);
