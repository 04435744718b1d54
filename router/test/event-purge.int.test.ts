import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Database } from '../../platform/src/db/database.ts';
import { createEventBus, type EventBus } from '../../platform/src/events/index.ts';
import { withStreamPrefix } from '../../platform/src/events/stream-prefix.ts';
import { seedProduct, seedUser } from '../../seed/world.ts';
import * as inventoryTables from '../../subgraphs/inventory/src/db/schema.ts';
import type * as productTables from '../../subgraphs/products/src/db/schema.ts';
import { startShopGraph, testLogger, type ShopGraph } from '../../test/support/shop-graph.ts';
import { signTestToken, testJwtSecret } from '../../test/support/tokens.ts';
import { until } from '../../test/support/until.ts';
import { productSpotlighted } from './fixtures/spotlight/events.ts';

/**
 * The response cache follows the event streams: stock taken by a
 * reservation behind the router (no mutation through it returned the
 * product) purges the product's cached answers, on real Redis; and so does
 * an event the router has never heard of, from the tags it carries.
 */

const redisUrl = inject('redisUrl');

let graph: ShopGraph;
let bus: EventBus;
let redis: ReturnType<typeof createClient>;

beforeAll(async () => {
  if (!redisUrl) throw new Error('needs redis-server on PATH (.ci/run installs it)');
  redis = createClient({ url: redisUrl });
  await redis.connect();
  // Its own streams: other test files share this Redis.
  const eventStreamPrefix = `test-${randomUUID()}`;
  bus = withStreamPrefix(createEventBus({ redis, logger: testLogger('bus') }), eventStreamPrefix);
  graph = await startShopGraph('event_purge', { redisUrl, eventStreamPrefix }, { bus });
});

afterAll(async () => {
  await graph?.stop();
  await bus?.close();
  await redis?.quit();
});

describe('cached answers and events', () => {
  it('drop a product page once a reservation changes its stock', async () => {
    const product = seedProduct(30);
    const inventory = graph.subgraphs.inventory.database.db as unknown as Database<typeof inventoryTables>;
    await inventory
      .update(inventoryTables.stockLevels)
      .set({ quantity: 40 })
      .where(eq(inventoryTables.stockLevels.productId, product.id));
    const page = `query ($id: ID!) { product(id: $id) { id quantity } }`;
    expect((await graph.query<any>(page, { id: product.id })).headers.get('x-cache')).toBe('MISS');
    const cached = await graph.query<any>(page, { id: product.id });
    expect(cached.headers.get('x-cache')).toBe('HIT');
    expect(cached.body.data.product.quantity).toBe(40);

    const token = await signTestToken(testJwtSecret, seedUser(4).id);
    const placed = await graph.query<any>(
      `mutation ($items: [OrderLineInput!]!, $key: String!) { placeOrder(input: { items: $items, idempotencyKey: $key }) { order { id } } }`,
      { items: [{ productId: product.id, quantity: 3 }], key: randomUUID() },
      { authorization: `Bearer ${token}` },
    );
    expect(placed.body.errors).toBeUndefined();

    // Within the entry's 10 s lifetime, so only the purge can explain a fresh answer.
    await until(
      async () => {
        const answer = await graph.query<any>(page, { id: product.id });
        return answer.headers.get('x-cache') === 'MISS' && answer.body.data.product.quantity === 37;
      },
      { timeoutMs: 5_000, what: 'the cached product page purged by StockReserved' },
    );
  });

  it('drop a product page on an event defined after the router was written, recorded in a subgraph’s outbox', async () => {
    const product = seedProduct(31);
    // Cached first, so it would expire first: still there once ours is gone, it rules out expiry.
    const control = seedProduct(32);
    const page = `query ($id: ID!) { product(id: $id) { id name } }`;
    await graph.query<any>(page, { id: control.id });
    expect((await graph.query<any>(page, { id: control.id })).headers.get('x-cache')).toBe('HIT');
    expect((await graph.query<any>(page, { id: product.id })).headers.get('x-cache')).toBe('MISS');
    expect((await graph.query<any>(page, { id: product.id })).headers.get('x-cache')).toBe('HIT');

    // Recorded as its producer would, in the products database's transaction; the products relay publishes it.
    const products = graph.subgraphs.products.database.db as unknown as Database<typeof productTables>;
    await products.transaction((tx) =>
      productSpotlighted.record(tx, product.id, { productId: product.id, headline: 'Back in stock' }),
    );

    // Nothing changed what the page shows: only the new event's tags can explain a miss.
    await until(async () => (await graph.query<any>(page, { id: product.id })).headers.get('x-cache') === 'MISS', {
      timeoutMs: 10_000,
      what: 'the cached product page purged by ProductSpotlighted',
    });
    expect((await graph.query<any>(page, { id: control.id })).headers.get('x-cache')).toBe('HIT');
  });
});
