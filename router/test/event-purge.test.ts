import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newEvent } from '../../platform/src/events/index.ts';
import { eventTypesEmittedBySubgraphs } from '../../test/support/emitted-events.ts';
import { entitiesChangedBy, purgedStreams, purgesByEventType } from '../src/plugins/response-cache/event-purge.ts';

/** Which cached entities each event purges; the purge itself runs on real buses in event-purge.int.test.ts. */

const productId = randomUUID();
const userId = randomUUID();

describe('entitiesChangedBy', () => {
  it.each([
    ['ProductRatingChanged', { productId, reviewCount: 3, averageRating: 4.33 }, [{ type: 'Product', id: productId }]],
    [
      'ReviewAdded',
      { reviewId: randomUUID(), productId, authorId: userId, rating: 4 },
      // Both review lists it joins; the rating is purged again by the ProductRatingChanged that follows.
      [
        { type: 'Product', id: productId },
        { type: 'User', id: userId },
      ],
    ],
    [
      'OrderPlaced',
      { orderId: productId, userId, items: [{ productId, quantity: 1 }] },
      // The order, and the shopper whose order list it joins.
      [
        { type: 'Order', id: productId },
        { type: 'User', id: userId },
      ],
    ],
    [
      'StockReleased',
      { orderId: randomUUID(), items: [{ productId, quantity: 2 }] },
      [{ type: 'Product', id: productId }],
    ],
    ['StockRestocked', { productId, added: 5, quantity: 12 }, [{ type: 'Product', id: productId }]],
    [
      'UserProfileChanged',
      { userId, username: 'ada', name: 'Ada', changedAt: new Date().toISOString() },
      [{ type: 'User', id: userId }],
    ],
    ['ReviewAuthorRenamed', { userId, username: 'ada' }, [{ type: 'User', id: userId }]],
    [
      'ProductPriceChanged',
      { productId, unitPriceCents: 100 },
      // The product, and the catalog's pages, which a price can reorder.
      [
        { type: 'Product', id: productId },
        { type: 'Query', id: 'products' },
      ],
    ],
    ['OrderConfirmed', { orderId: productId, userId }, [{ type: 'Order', id: productId }]],
  ])('%s purges what it changed', (type, payload, entities) => {
    expect(entitiesChangedBy(newEvent(type, randomUUID(), payload))).toEqual(entities);
  });

  it('purges nothing for an event it does not know, or a payload without the id', () => {
    expect(entitiesChangedBy(newEvent('SomethingElse', randomUUID(), { productId }))).toEqual([]);
    expect(entitiesChangedBy(newEvent('ProductRatingChanged', randomUUID(), { productId: 42 }))).toEqual([]);
    expect(entitiesChangedBy(newEvent('UserProfileChanged', randomUUID(), null))).toEqual([]);
  });

  it('purges only on events some subgraph publishes', () => {
    const { types, unreadable } = eventTypesEmittedBySubgraphs();
    // An event type computed at run time could not be checked: producers name theirs literally.
    expect(unreadable).toEqual([]);
    const notPublished = Object.keys(purgesByEventType).filter((type) => !types.has(type));
    expect(notPublished, 'the response cache purges on events no subgraph publishes').toEqual([]);
  });

  it('finds the events producers publish, including the stock a cancellation gives back', () => {
    const { types } = eventTypesEmittedBySubgraphs();
    expect(types.get('StockReleased')?.[0]).toMatch(/^subgraphs\/inventory\/src\//);
    expect(types.get('OrderConfirmed')).toBeDefined();
    expect(types.get('OrderRejected')).toBeDefined();
  });

  it('follows the streams of every subgraph that publishes', () => {
    expect([...purgedStreams].sort()).toEqual(['accounts', 'inventory', 'orders', 'products', 'reviews']);
  });
});
