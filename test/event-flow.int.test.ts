import { randomUUID } from 'node:crypto';
import { eq, sql, type SQL } from 'drizzle-orm';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectRows, type Database } from '../platform/src/db/database.ts';
import { createEventBus, newEvent, type DeadLetter, type EventBus } from '../platform/src/events/index.ts';
import { withStreamPrefix } from '../platform/src/events/stream-prefix.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import * as inventoryTables from '../subgraphs/inventory/src/db/schema.ts';
import * as orderTables from '../subgraphs/orders/src/db/schema.ts';
import { startShopGraph, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * Orders through the event flow, on real Postgres, once on the in-process
 * bus of the embedded default and once on real Redis Streams: an order is
 * confirmed once inventory reserves its stock, stock never goes below zero
 * however many orders race for it, a cancellation gives stock back, and a
 * price change reaches the orders subgraph's read model and the next order.
 */

const redisUrl = inject('redisUrl');

const placeOrder = /* GraphQL */ `
  mutation ($items: [OrderLineInput!]!, $key: String!) {
    placeOrder(input: { items: $items, idempotencyKey: $key }) {
      order {
        id
        total {
          centAmount
        }
      }
    }
  }
`;

describe.each(['memory', 'redis streams'] as const)('the order flow on the %s bus', (kind) => {
  let graph: ShopGraph;
  let bus: EventBus;
  /** The bus under the prefix, for what only operators read: dead letters. */
  let rawBus: EventBus;
  const prefix = `test-${randomUUID()}`;
  let redis: ReturnType<typeof createClient> | null = null;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    if (kind === 'redis streams') {
      if (!redisUrl) {
        expect(process.env.CI).not.toBe('true');
        return;
      }
      redis = createClient({ url: redisUrl });
      await redis.connect();
    }
    // Its own streams: other test files share this Redis.
    rawBus = createEventBus({ redis, logger: testLogger('bus') });
    bus = withStreamPrefix(rawBus, prefix);
    graph = await startShopGraph(`event_flow_${kind === 'memory' ? 'memory' : 'redis'}`, {}, { bus });
  });

  afterAll(async () => {
    await graph?.stop();
    await bus?.close();
    await redis?.quit();
  });

  const ordersDb = () => graph.subgraphs.orders.database.db as unknown as Database<typeof orderTables>;
  const inventoryDb = () => graph.subgraphs.inventory.database.db as unknown as Database<typeof inventoryTables>;
  const ready = () => kind === 'memory' || redis !== null;

  async function as(userIndex: number) {
    const id = seedUser(userIndex).id;
    if (!tokens.has(id)) tokens.set(id, await signTestToken(testJwtSecret, id, ['admin']));
    return { authorization: `Bearer ${tokens.get(id)}` };
  }

  async function place(userIndex: number, items: Array<{ productId: string; quantity: number }>) {
    const response = await graph.query<any>(placeOrder, { items, key: randomUUID() }, await as(userIndex));
    expect(response.body.errors).toBeUndefined();
    return response.body.data.placeOrder.order as { id: string; total: { centAmount: number } };
  }

  const statusOf = async (orderId: string) =>
    (await ordersDb().select().from(orderTables.orders).where(eq(orderTables.orders.id, orderId)))[0]?.status;
  const stockOf = async (productId: string) =>
    (
      await inventoryDb()
        .select()
        .from(inventoryTables.stockLevels)
        .where(eq(inventoryTables.stockLevels.productId, productId))
    )[0]?.quantity ?? 0;
  const setStock = (productId: string, quantity: number) =>
    inventoryDb()
      .insert(inventoryTables.stockLevels)
      .values({ productId, quantity })
      .onConflictDoUpdate({ target: inventoryTables.stockLevels.productId, set: { quantity } });

  it('confirms an order once its stock is reserved, and takes the stock', async () => {
    if (!ready()) return;
    const product = seedProduct(20);
    await setStock(product.id, 10);
    const order = await place(0, [{ productId: product.id, quantity: 3 }]);
    await until(async () => (await statusOf(order.id)) === 'CONFIRMED', {
      timeoutMs: 15_000,
      what: 'the order confirmed',
    });
    expect(await stockOf(product.id)).toBe(7);
  });

  it('rejects what stock cannot cover: N units, N + k one-unit orders racing, exactly k rejected', async () => {
    if (!ready()) return;
    const product = seedProduct(21);
    const stock = 6;
    const extra = 4;
    await setStock(product.id, stock);
    const orders = await Promise.all(
      Array.from({ length: stock + extra }, (_, index) => place(index % 10, [{ productId: product.id, quantity: 1 }])),
    );
    await until(
      async () => {
        const statuses = await Promise.all(orders.map((order) => statusOf(order.id)));
        return statuses.every((status) => status !== 'PENDING');
      },
      { timeoutMs: 20_000, what: 'every racing order decided' },
    );
    const statuses = await Promise.all(orders.map((order) => statusOf(order.id)));
    expect(statuses.filter((status) => status === 'CONFIRMED')).toHaveLength(stock);
    expect(statuses.filter((status) => status === 'REJECTED')).toHaveLength(extra);
    expect(await stockOf(product.id)).toBe(0);
  });

  it('gives the stock back when a confirmed order is cancelled', async () => {
    if (!ready()) return;
    const product = seedProduct(22);
    await setStock(product.id, 5);
    const order = await place(1, [{ productId: product.id, quantity: 2 }]);
    await until(async () => (await statusOf(order.id)) === 'CONFIRMED', { timeoutMs: 15_000, what: 'confirmed' });
    const cancelled = await graph.query<any>(
      `mutation ($id: ID!) { cancelOrder(id: $id) { order { status } } }`,
      { id: order.id },
      await as(1),
    );
    expect(cancelled.body.data.cancelOrder.order.status).toBe('CANCELLED');
    await until(async () => (await stockOf(product.id)) === 5, { timeoutMs: 15_000, what: 'stock released' });
  });

  it('prices the next order at a changed price, once the change has reached the orders read model', async () => {
    if (!ready()) return;
    const product = seedProduct(23);
    await setStock(product.id, 50);
    const newPrice = product.priceCents + 1_000;
    const changed = await graph.query<any>(
      `mutation ($id: ID!, $price: MoneyInput!) { updateProductPrice(productId: $id, price: $price) { product { id } } }`,
      { id: product.id, price: { centAmount: newPrice, currencyCode: 'USD' } },
      await as(2),
    );
    expect(changed.body.errors).toBeUndefined();
    await until(
      async () =>
        (
          await ordersDb()
            .select()
            .from(orderTables.productPrices)
            .where(eq(orderTables.productPrices.productId, product.id))
        )[0]?.unitPriceCents === newPrice,
      { timeoutMs: 15_000, what: 'the price read model updated' },
    );
    const order = await place(2, [{ productId: product.id, quantity: 2 }]);
    expect(order.total.centAmount).toBe(2 * newPrice);
  });

  it('sets a malformed event aside with its reason after its attempts, without holding up the orders behind it', async () => {
    if (!ready()) return;
    const product = seedProduct(24);
    await setStock(product.id, 10);
    // As a producer with a bug would send it: items that are not a list.
    const poison = newEvent('OrderPlaced', randomUUID(), { orderId: randomUUID(), items: 'three apples' });
    await bus.publish('orders', [poison]);
    const order = await place(3, [{ productId: product.id, quantity: 1 }]);
    await until(async () => (await statusOf(order.id)) === 'CONFIRMED', { timeoutMs: 15_000, what: 'confirmed' });

    const deadLetters = () =>
      (rawBus as unknown as { readDeadLetters(stream: string): Promise<DeadLetter[]> }).readDeadLetters(
        `${prefix}:orders`,
      );
    // Five attempts, with backoff between them: a few seconds.
    await until(async () => (await deadLetters()).some((letter) => letter.event?.id === poison.id), {
      timeoutMs: 30_000,
      what: 'the malformed event dead-lettered',
    });
    const letter = (await deadLetters()).find((candidate) => candidate.event?.id === poison.id)!;
    expect(letter).toMatchObject({ group: 'inventory', attempts: 5, event: { payload: poison.payload } });
    expect(letter.reason).toMatch(/items/);
    expect((await bus.stats('orders', 'inventory')).deadLetters).toBeGreaterThanOrEqual(1);
    // Nothing of it was applied.
    expect(
      await countRows(
        inventoryDb(),
        sql`select count(*)::int as n from processed_events where event_id = ${poison.id}`,
      ),
    ).toBe(0);
    expect(await stockOf(product.id)).toBe(9);
  });

  it('publishes every recorded event, and applies each once', async () => {
    if (!ready()) return;
    const pendingNow = () =>
      countRows(
        ordersDb(),
        sql`select count(*)::int as n from orders where status = 'PENDING' and created_at > now() - interval '10 minutes'`,
      );
    await until(
      async () =>
        (await unpublished(ordersDb())) === 0 && (await unpublished(inventoryDb())) === 0 && (await pendingNow()) === 0,
      { timeoutMs: 15_000, what: 'the outboxes drained and every order decided' },
    );
    // Every OrderPlaced this file recorded was applied by inventory exactly once.
    const placedEvents = await countRows(
      ordersDb(),
      sql`select count(*)::int as n from outbox where type = 'OrderPlaced'`,
    );
    const appliedByInventory = await countRows(
      inventoryDb(),
      sql`select count(*)::int as n from processed_events where consumer = 'inventory'`,
    );
    expect(appliedByInventory).toBeGreaterThanOrEqual(placedEvents);
    const reservations = await countRows(inventoryDb(), sql`select count(*)::int as n from reservations`);
    const confirmed = await countRows(
      ordersDb(),
      sql`select count(*)::int as n from orders where status in ('CONFIRMED', 'CANCELLED') and created_at > now() - interval '10 minutes'`,
    );
    expect(reservations).toBe(confirmed);
  });
});

async function countRows(db: Database<any>, query: SQL): Promise<number> {
  return (await selectRows<{ n: number }>(db, query))[0]!.n;
}

const unpublished = (db: Database<any>) =>
  countRows(db, sql`select count(*)::int as n from outbox where published_at is null`);
