import { hostname } from 'node:os';
import type { DomainEvent, EventBus, Subscription } from '../../../../platform/src/events/index.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import type { ResponseCache } from './index.ts';

type Entity = { type: string; id: string };
type Payload = Record<string, unknown>;

const entity = (type: string, id: unknown): Entity[] => (typeof id === 'string' ? [{ type, id }] : []);
/** A root list, tagged `Query:<field>` (tags.ts). */
const rootList = (field: string): Entity[] => [{ type: 'Query', id: field }];
const products = (items: unknown): Entity[] =>
  Array.isArray(items)
    ? items.flatMap((item: { productId?: unknown } | null) => entity('Product', item?.productId))
    : [];

/**
 * For each event type the cache purges on, the entities whose cached
 * responses it makes stale. A list is purged through its owner: a response
 * that shows a user's orders shows the user, so purging `User:<id>` purges
 * the list a new order joins. Every type here must be one a subgraph
 * publishes (test/cache-coherence.int.test.ts and router/test/event-purge.test.ts
 * hold producers to it).
 */
export const purgesByEventType: Readonly<Record<string, (payload: Payload) => Entity[]>> = {
  // The price shows wherever the product does, and can move it into or out of a catalog page
  // filtered or ordered by price: those pages are purged as a whole.
  ProductPriceChanged: (payload) => [...entity('Product', payload.productId), ...rootList('products')],
  // Stock moves: a reservation takes it, a cancellation gives it back, a restock adds to it.
  StockReserved: (payload) => products(payload.items),
  StockReleased: (payload) => products(payload.items),
  StockRestocked: (payload) => entity('Product', payload.productId),
  // Sent by orders once the order's status has changed, so a purge never precedes the change.
  // A new order joins its owner's order list.
  OrderPlaced: (payload) => [...entity('Order', payload.orderId), ...entity('User', payload.userId)],
  OrderConfirmed: (payload) => entity('Order', payload.orderId),
  OrderRejected: (payload) => entity('Order', payload.orderId),
  OrderCancelled: (payload) => entity('Order', payload.orderId),
  // A new review joins its product's and its author's review lists. The product's rating
  // follows with the ProductRatingChanged every ReviewAdded brings, which purges it again.
  ReviewAdded: (payload) => [...entity('Product', payload.productId), ...entity('User', payload.authorId)],
  // Sent by reviews once the rating projection has changed: averageRating and reviewCount.
  ProductRatingChanged: (payload) => entity('Product', payload.productId),
  // The name and username accounts serves.
  UserProfileChanged: (payload) => entity('User', payload.userId),
  // Sent by reviews once the username kept on the author's reviews has changed too.
  ReviewAuthorRenamed: (payload) => entity('User', payload.userId),
};

/**
 * The entities a domain event changed, as the response cache tags them.
 * Used twice for each event: when a mutation's subgraph reports the events
 * it recorded (purged before the router answers, see index.ts), and when the
 * event arrives on its stream (purged again, which also covers what changed
 * behind the router: a consumer's projection, an admin tool, another instance).
 */
export function entitiesChangedBy(event: Pick<DomainEvent, 'type' | 'payload'>): Entity[] {
  const purges = Object.hasOwn(purgesByEventType, event.type) ? purgesByEventType[event.type] : undefined;
  // A payload may be JSON null, or not an object at all; such an event names nothing to purge.
  const payload = typeof event.payload === 'object' && event.payload !== null ? (event.payload as Payload) : {};
  return purges ? purges(payload) : [];
}

/** The streams whose events can change what the router has cached. */
export const purgedStreams = ['products', 'inventory', 'orders', 'reviews', 'accounts'] as const;

/**
 * Purges cached responses as events arrive, as one consumer group shared by
 * every router instance: with the cache in Redis, one purge serves all.
 */
export function purgeOnEvents({
  bus,
  cache,
  logger,
}: {
  bus: EventBus;
  cache: ResponseCache;
  logger: Logger;
}): Subscription[] {
  const consumer = `router-${hostname()}-${process.pid}`;
  return purgedStreams.map((stream) =>
    bus.subscribe({
      stream,
      group: 'router-response-cache',
      consumer,
      handle: async (event) => {
        const entities = entitiesChangedBy(event);
        if (entities.length === 0) return;
        const purged = await cache.purge({ entities });
        logger.debug({ event: event.type, entities: entities.length, purged }, 'purged cached responses');
      },
    }),
  );
}
