import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newEvent } from '../../platform/src/events/index.ts';
import { entitiesChangedBy, purgedStreams } from '../src/plugins/response-cache/event-purge.ts';

/** Which cached entities each event purges; the purge itself runs on real buses in event-purge.int.test.ts. */

const productId = randomUUID();
const userId = randomUUID();

describe('entitiesChangedBy', () => {
  it.each([
    ['ProductRatingChanged', { productId, reviewCount: 3, averageRating: 4.33 }, [{ type: 'Product', id: productId }]],
    [
      'ReviewAdded',
      { reviewId: randomUUID(), productId, authorId: userId, rating: 4 },
      // The product waits for ProductRatingChanged, which follows once its rating includes the review.
      [{ type: 'User', id: userId }],
    ],
    [
      'UserProfileChanged',
      { userId, username: 'ada', name: 'Ada', changedAt: new Date().toISOString() },
      [{ type: 'User', id: userId }],
    ],
    ['ReviewAuthorRenamed', { userId, username: 'ada' }, [{ type: 'User', id: userId }]],
    ['ProductPriceChanged', { productId, unitPriceCents: 100 }, [{ type: 'Product', id: productId }]],
    ['OrderConfirmed', { orderId: productId, userId }, [{ type: 'Order', id: productId }]],
  ])('%s purges what it changed', (type, payload, entities) => {
    expect(entitiesChangedBy(newEvent(type, randomUUID(), payload))).toEqual(entities);
  });

  it('purges nothing for an event it does not know, or a payload without the id', () => {
    expect(entitiesChangedBy(newEvent('SomethingElse', randomUUID(), { productId }))).toEqual([]);
    expect(entitiesChangedBy(newEvent('ProductRatingChanged', randomUUID(), { productId: 42 }))).toEqual([]);
    expect(entitiesChangedBy(newEvent('UserProfileChanged', randomUUID(), null))).toEqual([]);
  });

  it('follows the streams of every subgraph that publishes', () => {
    expect([...purgedStreams].sort()).toEqual(['accounts', 'inventory', 'orders', 'products', 'reviews']);
  });
});
