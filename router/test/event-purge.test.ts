import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  InvalidEventError,
  MemoryBus,
  newEvent,
  type DomainEvent,
  type EventDefinition,
} from '../../platform/src/events/index.ts';
import { createLogger } from '../../platform/src/logger.ts';
import { userProfileChanged } from '../../subgraphs/accounts/src/events.ts';
import { stockReleased, stockRestocked } from '../../subgraphs/inventory/src/events.ts';
import { orderConfirmed, orderPlaced } from '../../subgraphs/orders/src/events.ts';
import { productPriceChanged } from '../../subgraphs/products/src/events.ts';
import { subgraphs } from '../../subgraphs/registry.ts';
import { productRatingChanged, reviewAdded, reviewAuthorRenamed } from '../../subgraphs/reviews/src/events.ts';
import { MemoryResponseStore, ResponseCache } from '../src/plugins/response-cache/index.ts';
import { entitiesChangedBy, purgedStreams, purgeOnEvents } from '../src/plugins/response-cache/event-purge.ts';
import { until } from '../../test/support/until.ts';

/**
 * Which cached entities each event purges, from the tags its producer's
 * definition puts in the envelope; the purge itself runs on real buses in
 * event-purge.int.test.ts.
 */

const productId = randomUUID();
const userId = randomUUID();
const logger = createLogger({ service: 'event-purge-test', level: 'silent' });

type Case = [EventDefinition, object, Array<{ type: string; id: string }>];

const cases: Case[] = [
  [productRatingChanged, { productId, reviewCount: 3, averageRating: 4.33 }, [{ type: 'Product', id: productId }]],
  [
    reviewAdded,
    { reviewId: randomUUID(), productId, authorId: userId, rating: 4 },
    // Both review lists it joins; the rating is purged again by the ProductRatingChanged that follows.
    [
      { type: 'Product', id: productId },
      { type: 'User', id: userId },
    ],
  ],
  [
    orderPlaced,
    {
      orderId: productId,
      userId,
      items: [{ productId, quantity: 1, unitPriceCents: 100 }],
      totalCents: 100,
      currencyCode: 'USD',
    },
    // The order, and the shopper whose order list it joins.
    [
      { type: 'Order', id: productId },
      { type: 'User', id: userId },
    ],
  ],
  [stockReleased, { orderId: randomUUID(), items: [{ productId, quantity: 2 }] }, [{ type: 'Product', id: productId }]],
  [stockRestocked, { productId, added: 5, quantity: 12 }, [{ type: 'Product', id: productId }]],
  [
    userProfileChanged,
    { userId, username: 'ada', name: 'Ada', changedAt: new Date().toISOString() },
    [{ type: 'User', id: userId }],
  ],
  [reviewAuthorRenamed, { userId, username: 'ada' }, [{ type: 'User', id: userId }]],
  [
    productPriceChanged,
    { productId, unitPriceCents: 100, currencyCode: 'USD', changedAt: new Date().toISOString() },
    // The product, and the catalog's pages, which a price can reorder.
    [
      { type: 'Product', id: productId },
      { type: 'Query', id: 'products' },
    ],
  ],
  [orderConfirmed, { orderId: productId, userId }, [{ type: 'Order', id: productId }]],
];

describe('entitiesChangedBy', () => {
  it.each(cases.map(([definition, ...rest]) => [definition.type, definition, ...rest] as const))(
    '%s purges what it changed',
    (_type, definition, payload, entities) => {
      const event = definition.create(randomUUID(), payload);
      expect(entitiesChangedBy(event)).toEqual(entities);
      // As it travels: the tags survive JSON, and are all the router reads.
      expect(entitiesChangedBy(JSON.parse(JSON.stringify(event)) as DomainEvent)).toEqual(entities);
    },
  );

  it('purges nothing for an event without tags, or tags that are not a list of strings', () => {
    expect(entitiesChangedBy(newEvent('SomethingElse', randomUUID(), { productId }))).toEqual([]);
    expect(entitiesChangedBy(newEvent('ProductRatingChanged', randomUUID(), { productId: 42 }))).toEqual([]);
    expect(entitiesChangedBy(newEvent('UserProfileChanged', randomUUID(), null))).toEqual([]);
    const garbled = { ...newEvent('ProductRatingChanged', randomUUID(), { productId }), invalidates: 'Product:1' };
    expect(entitiesChangedBy(garbled as unknown as DomainEvent)).toEqual([]);
  });

  it('never tags an event whose payload lacks the id: its definition refuses it, restating the contract', () => {
    const create = () => (productRatingChanged as EventDefinition).create(randomUUID(), { productId: 42 });
    expect(create).toThrow(InvalidEventError);
    expect(create).toThrow(
      /^A ProductRatingChanged event must carry a payload matching the schema its definition \(stream "reviews"\) gives, but .* does not: productId: .*Payload: \{"productId":42\}$/,
    );
  });

  it('follows the streams of every subgraph that publishes', () => {
    expect([...purgedStreams].sort()).toEqual(['accounts', 'inventory', 'orders', 'products', 'reviews']);
    expect(purgedStreams).toEqual(subgraphs.map(({ name }) => name));
  });
});

describe('purgeOnEvents', () => {
  /** A cache holding one entry per tag, and whether each is still there. */
  const cacheWith = async (tags: readonly string[]) => {
    const store = new MemoryResponseStore();
    const cache = new ResponseCache({ store, logger });
    for (const tag of tags) {
      const entry = {
        body: Buffer.from(tag),
        createdAt: Date.now(),
        maxAgeSeconds: 600,
        scope: 'PUBLIC' as const,
        contentType: 'application/json',
      };
      await store.set(tag, entry, [tag], store.generation());
    }
    const kept = async () => {
      const present: string[] = [];
      for (const tag of tags) if (store.get(tag)) present.push(tag);
      return present;
    };
    return { cache, kept };
  };

  it('purges what the envelope’s tags name, on a stream it was never told of by name', async () => {
    const bus = new MemoryBus({ logger });
    const other = randomUUID();
    const { cache, kept } = await cacheWith([`Product:${productId}`, `Product:${other}`]);
    // A subgraph the router has no code for: only its registry entry names the stream.
    const subscriptions = purgeOnEvents({ bus, cache, logger, streams: [...purgedStreams, 'toys'] });
    try {
      await bus.publish('toys', [newEvent('ToyRepainted', randomUUID(), { anything: true }, [`Product:${productId}`])]);
      await until(async () => (await kept()).length === 1, { timeoutMs: 10_000, what: 'the tagged entry purged' });
      expect(await kept()).toEqual([`Product:${other}`]);
    } finally {
      await Promise.all(subscriptions.map((subscription) => subscription.stop()));
      await bus.close();
    }
  });

  it('purges everything for an envelope from before events carried tags, which cannot say what it changed', async () => {
    const bus = new MemoryBus({ logger });
    const { cache, kept } = await cacheWith([`Product:${productId}`, `User:${userId}`]);
    const subscriptions = purgeOnEvents({ bus, cache, logger });
    try {
      // As an older producer recorded it: the payload alone.
      await bus.publish('orders', [newEvent('OrderPlaced', randomUUID(), { orderId: randomUUID(), userId })]);
      await until(async () => (await kept()).length === 0, { timeoutMs: 10_000, what: 'every entry purged' });
      // An event that names nothing purges nothing.
      const { cache: quiet, kept: keptQuietly } = await cacheWith([`User:${userId}`]);
      const more = purgeOnEvents({ bus, cache: quiet, logger, streams: ['inventory'] });
      await bus.publish('inventory', [
        newEvent('StockRejected', randomUUID(), { orderId: randomUUID(), shortfalls: [] }, []),
      ]);
      await until(async () => (await bus.stats('inventory', 'router-response-cache')).pending === 0, {
        timeoutMs: 10_000,
        what: 'the event handled',
      });
      await Promise.all(more.map((subscription) => subscription.stop()));
      expect(await keptQuietly()).toEqual([`User:${userId}`]);
    } finally {
      await Promise.all(subscriptions.map((subscription) => subscription.stop()));
      await bus.close();
    }
  });
});
