import { randomUUID } from 'node:crypto';
import { createClient as createRedisClient } from 'redis';
import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { createEventBus, type EventBus } from '../platform/src/events/index.ts';
import { withStreamPrefix } from '../platform/src/events/stream-prefix.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import { startShopGraph, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { scrape } from './support/metrics.ts';
import { until } from './support/until.ts';

/**
 * The shop's subscriptions through the router over graphql-ws, on the
 * in-process bus and on real Redis Streams: stock changes reach anyone,
 * completed with the product's name from the catalog; a shopper's order
 * updates reach that shopper alone; a subscriber that comes back with the
 * last position it saw gets what it missed, once.
 */

const redisUrl = inject('redisUrl');
const postgresAdminUrl = inject('postgresAdminUrl') ?? undefined;

const stockChanged = `subscription ($productId: ID!, $after: String) {
  stockChanged(productId: $productId, after: $after) { quantity inStock product { id name } }
}`;
const orderUpdated = `subscription { orderUpdated { order { id status items { quantity product { name } } } } }`;
const restock = `mutation ($productId: ID!, $quantity: Int!) { restock(productId: $productId, quantity: $quantity) { product { quantity } } }`;
const placeOrder = `mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } }`;

interface Received {
  data?: any;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
  extensions?: { position?: string };
}

describe.each(['memory', 'redis streams'] as const)('subscriptions on the %s bus', (kind) => {
  let graph: ShopGraph;
  let bus: EventBus;
  let redis: ReturnType<typeof createRedisClient> | null = null;
  const clients: Client[] = [];
  const headers: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
  const [alice, bob] = [seedUser(0), seedUser(1)];

  beforeAll(async () => {
    if (kind === 'redis streams') {
      if (!redisUrl) {
        expect(process.env.CI).not.toBe('true');
        return;
      }
      redis = createRedisClient({ url: redisUrl });
      await redis.connect();
    }
    // Its own streams: other test files share this Redis.
    bus = withStreamPrefix(createEventBus({ redis, logger: testLogger('bus') }), `test-${randomUUID()}`);
    graph = await startShopGraph(
      `subscriptions_${kind === 'memory' ? 'memory' : 'redis'}`,
      {},
      { bus, postgresAdminUrl },
    );
    headers.admin = `Bearer ${await signTestToken(testJwtSecret, seedUser(2).id, ['admin'])}`;
    headers.alice = `Bearer ${await signTestToken(testJwtSecret, alice.id)}`;
    headers.bob = `Bearer ${await signTestToken(testJwtSecret, bob.id)}`;
  });

  afterAll(async () => {
    await graph?.stop();
    await bus?.close();
    await redis?.quit();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map(async (client) => void (await client.dispose())));
  });

  const ready = () => kind === 'memory' || redis !== null;

  function subscribe(query: string, variables: Record<string, unknown>, authorization?: string) {
    const client = createClient({
      url: graph.router.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: authorization ? { authorization } : {},
      retryAttempts: 0,
    });
    clients.push(client);
    const received: Received[] = [];
    let ended: unknown = null;
    client.subscribe(
      { query, variables },
      {
        next: (result) => void received.push(result as Received),
        error: (error) => void (ended = error ?? 'error'),
        complete: () => void (ended ??= 'complete'),
      },
    );
    return { received, ended: () => ended, client };
  }

  const started = (subgraph: 'inventory' | 'orders') => graph.subgraphs[subgraph].subscriptions().started;
  /** Waits until the router has opened `count` more subscriptions on the subgraph than `before`. */
  const subscribed = (subgraph: 'inventory' | 'orders', before: number, count = 1) =>
    until(() => started(subgraph) >= before + count, {
      what: `${count} subscription(s) opened on ${subgraph}`,
      timeoutMs: 20_000,
    });

  /**
   * Restocks until the watcher has an event: a subscription from now starts
   * reading its stream as it opens, so a change made at that very moment
   * may come before its start. Returns the last restock's answer.
   */
  async function restockUntilSeen(productId: string, watcher: { received: Received[] }) {
    for (let attempt = 0; ; attempt++) {
      const restocked = await graph.query<{ restock: { product: { quantity: number } } }>(
        restock,
        { productId, quantity: 1 },
        { authorization: headers.admin },
      );
      expect(restocked.body.errors).toBeUndefined();
      try {
        await until(() => watcher.received.length > 0, { what: 'a stock change', timeoutMs: 2_000 });
        return restocked.body.data!.restock;
      } catch (error) {
        if (attempt >= 10) throw error;
      }
    }
  }

  it("sends a product's stock changes to anyone, completed with its name from the catalog", async () => {
    if (!ready()) return;
    const product = seedProduct(5);
    const before = started('inventory');
    const watcher = subscribe(stockChanged, { productId: product.id });
    await subscribed('inventory', before);
    const restocked = await restockUntilSeen(product.id, watcher);
    const [event] = watcher.received;
    expect(event!.errors).toBeUndefined();
    expect(event!.data.stockChanged).toEqual({
      quantity: expect.any(Number),
      inStock: true,
      product: { id: product.id, name: product.name },
    });
    expect(event!.data.stockChanged.quantity).toBeLessThanOrEqual(restocked.product.quantity);
    expect(event!.extensions?.position).toMatch(/^\d+-\d+$/);
  });

  it("sends a shopper their own orders' updates, and another shopper none of them", async () => {
    if (!ready()) return;
    const before = started('orders');
    const mine = subscribe(orderUpdated, {}, headers.alice);
    const theirs = subscribe(orderUpdated, {}, headers.bob);
    await subscribed('orders', before, 2);
    const product = seedProduct(6);
    const placed = await graph.query<{ placeOrder: { order: { id: string } } }>(
      placeOrder,
      { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: randomUUID() } },
      { authorization: headers.alice },
    );
    expect(placed.body.errors).toBeUndefined();
    const orderId = placed.body.data!.placeOrder.order.id;
    // Placed, then confirmed once inventory has reserved the stock.
    await until(() => mine.received.some((event) => event.data?.orderUpdated.order.status === 'CONFIRMED'), {
      what: "alice's order confirmed",
      timeoutMs: 30_000,
    });
    expect(mine.received.every((event) => event.data?.orderUpdated.order.id === orderId)).toBe(true);
    expect(mine.received[0]!.data.orderUpdated.order.items).toEqual([{ quantity: 1, product: { name: product.name } }]);
    // Bob's own order reaches him; by then alice's have gone past him.
    const his = await graph.query<{ placeOrder: { order: { id: string } } }>(
      placeOrder,
      { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: randomUUID() } },
      { authorization: headers.bob },
    );
    await until(() => theirs.received.length >= 1, { what: "bob's own order update", timeoutMs: 30_000 });
    expect(theirs.received.map((event) => event.data?.orderUpdated.order.id)).not.toContain(orderId);
    expect(theirs.received[0]!.data.orderUpdated.order.id).toBe(his.body.data!.placeOrder.order.id);
  });

  /**
   * The same two subscriptions through another client: stock changes of a
   * product, and the signed-in shopper's order updates, each completed
   * from the other subgraphs.
   */
  async function receivesStockAndOrders(
    open: (query: string, variables: Record<string, unknown>, authorization?: string) => { received: Received[] },
    productIndex: number,
  ) {
    const product = seedProduct(productIndex);
    // An earlier test's subscriptions may still be closing: identical ones would join theirs (executor/subscription-fan-out.ts).
    await until(async () => (await scrape(graph.router)).sum('router_subscriptions_active') === 0, {
      what: "earlier tests' subscriptions closed",
    });
    const before = { inventory: started('inventory'), orders: started('orders') };
    const stock = open(stockChanged, { productId: product.id });
    const orders = open(orderUpdated, {}, headers.alice);
    await subscribed('inventory', before.inventory);
    await subscribed('orders', before.orders);
    await restockUntilSeen(product.id, stock);
    // Apollo Client adds `__typename` to every selection.
    expect(stock.received[0]!.data.stockChanged.product).toMatchObject({ id: product.id, name: product.name });
    const placed = await graph.query<{ placeOrder: { order: { id: string } } }>(
      placeOrder,
      { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: randomUUID() } },
      { authorization: headers.alice },
    );
    const orderId = placed.body.data!.placeOrder.order.id;
    await until(() => orders.received.some((event) => event.data?.orderUpdated.order.id === orderId), {
      what: "alice's order update",
      timeoutMs: 30_000,
    });
    const update = orders.received.find((event) => event.data?.orderUpdated.order.id === orderId)!;
    expect(update.data.orderUpdated.order.items).toMatchObject([{ quantity: 1, product: { name: product.name } }]);
    expect(update.extensions?.position).toMatch(/^\d+-\d+$/);
  }

  it('sends stock and order updates through graphql-sse', async () => {
    if (!ready()) return;
    const streams: Array<() => void> = [];
    try {
      await receivesStockAndOrders((query, variables, authorization) => {
        const client = createSseClient({
          url: graph.router.url,
          headers: authorization ? { authorization } : {},
          retryAttempts: 0,
        });
        const received: Received[] = [];
        streams.push(
          client.subscribe(
            { query, variables },
            { next: (result) => void received.push(result as Received), error: () => {}, complete: () => {} },
          ),
          () => client.dispose(),
        );
        return { received };
      }, 10);
    } finally {
      for (const stop of streams) stop();
    }
  });

  it('sends stock and order updates to Apollo Client (multipart subscriptions over HTTP)', async () => {
    if (!ready()) return;
    const subscriptions: Array<{ unsubscribe(): void }> = [];
    try {
      await receivesStockAndOrders((query, variables, authorization) => {
        const client = new ApolloClient({
          link: new HttpLink({ uri: graph.router.url, headers: authorization ? { authorization } : {} }),
          cache: new InMemoryCache(),
        });
        const received: Received[] = [];
        subscriptions.push(
          client.subscribe({ query: gql(query), variables, fetchPolicy: 'no-cache' }).subscribe({
            next: (result) => void received.push(result as Received),
            error: (error: unknown) => void received.push({ errors: [{ message: String(error) }] }),
          }),
        );
        return { received };
      }, 11);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });

  it('refuses order updates to an anonymous caller, with a code', async () => {
    if (!ready()) return;
    const anonymous = subscribe(orderUpdated, {});
    await until(() => Array.isArray(anonymous.ended()) || anonymous.received.length > 0, { what: 'an answer' });
    const ended = anonymous.ended();
    const errors = Array.isArray(ended) ? (ended as Received['errors']) : anonymous.received[0]?.errors;
    expect(errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(anonymous.received.every((event) => !event.data?.orderUpdated)).toBe(true);
  });

  it('gives a subscriber that comes back after a position what it missed, once, then what follows', async () => {
    if (!ready()) return;
    const product = seedProduct(7);
    const restockBy = (quantity: number) =>
      graph.query(restock, { productId: product.id, quantity }, { authorization: headers.admin });
    const before = started('inventory');
    const first = subscribe(stockChanged, { productId: product.id });
    await subscribed('inventory', before);
    await restockUntilSeen(product.id, first);
    await first.client.dispose();
    // The last change it saw: a restock it made but saw too late is not among the missed.
    const position = first.received.at(-1)!.extensions!.position!;
    // Missed while away.
    const missed = [(await restockBy(2)).body.data, (await restockBy(3)).body.data] as Array<{
      restock: { product: { quantity: number } };
    }>;
    const back = subscribe(stockChanged, { productId: product.id, after: position });
    // Everything after the position comes, so what is restocked from here on is live whenever it opens.
    await until(() => back.received.length === 2, { what: 'the missed changes', timeoutMs: 20_000 });
    const live = (await restockBy(4)).body.data as { restock: { product: { quantity: number } } };
    await until(() => back.received.length === 3, { what: 'the live change', timeoutMs: 20_000 });
    // Quantities are read when each change is sent, so a replayed one shows the stock as it is by then.
    expect(back.received.every((event) => event.errors === undefined)).toBe(true);
    expect(back.received.at(-1)!.data.stockChanged.quantity).toBe(live.restock.product.quantity);
    const positions = back.received.map((event) => event.extensions!.position!);
    expect(new Set(positions).size).toBe(3);
    expect(positions).not.toContain(position);
    expect(missed).toHaveLength(2);
  });
});
