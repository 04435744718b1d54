import { hostname } from 'node:os';
import type { DomainEvent, EventBus, Subscription } from '../../../../platform/src/events/index.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import type { ResponseCache } from './index.ts';

type Entity = { type: string; id: string };

/**
 * The entities a domain event changed, as the response cache tags them.
 * Mutations through the router purge what they return already; this covers
 * what changes behind it: stock taken by a reservation, a price set by an
 * admin tool, anything another instance or a consumer did.
 */
export function entitiesChangedBy(event: DomainEvent): Entity[] {
  // A payload may be JSON null; such an event names nothing to purge.
  const payload = (event.payload ?? {}) as Record<string, unknown>;
  const products = (items: unknown): Entity[] =>
    Array.isArray(items)
      ? items.flatMap((item) =>
          typeof item?.productId === 'string' ? [{ type: 'Product', id: item.productId as string }] : [],
        )
      : [];
  const entity = (type: string, id: unknown): Entity[] => (typeof id === 'string' ? [{ type, id }] : []);
  switch (event.type) {
    case 'ProductPriceChanged':
      return entity('Product', payload.productId);
    case 'StockReleased':
      return products(payload.items);
    case 'StockReserved':
      return products(payload.items);
    // Sent by orders once the order's status has changed, so a purge never precedes the change.
    case 'OrderPlaced':
    case 'OrderConfirmed':
    case 'OrderRejected':
    case 'OrderCancelled':
      return entity('Order', payload.orderId);
    // The author's review list has it once it is committed. The product's page is purged by
    // the ProductRatingChanged that follows every ReviewAdded, once its rating includes it.
    case 'ReviewAdded':
      return entity('User', payload.authorId);
    // Sent by reviews once the rating projection has changed: averageRating and reviewCount.
    case 'ProductRatingChanged':
      return entity('Product', payload.productId);
    // The name and username accounts serves.
    case 'UserProfileChanged':
      return entity('User', payload.userId);
    // Sent by reviews once the username kept on the author's reviews has changed too.
    case 'ReviewAuthorRenamed':
      return entity('User', payload.userId);
    default:
      return [];
  }
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
