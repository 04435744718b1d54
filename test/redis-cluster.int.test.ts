import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { RedisCache } from '../platform/src/cache/redis.ts';
import { createEventBus, newEvent, RedisStreamsBus, type EventBus } from '../platform/src/events/index.ts';
import { withStreamPrefix } from '../platform/src/events/stream-prefix.ts';
import { RedisResponseStore } from '../router/src/plugins/response-cache/index.ts';
import type { RunningRouter } from '../router/src/router.ts';
import { startSubgraph } from '../platform/src/subgraph/server.ts';
import { tailContract } from '../platform/test/event-tail-contract.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import { loadSubgraph } from '../subgraphs/registry.ts';
import { createTestDatabase } from './databases.ts';
import { measureMachineSpeed } from './support/machine-speed.ts';
import { postPersisted, sha256 } from './support/persisted-queries.ts';
import { startRedisCluster, subgraphOnCluster, type RedisClusterServers } from './support/redis-cluster.ts';
import { startShopGraph, startTestRouter, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * Every Redis feature on a real Redis Cluster (six nodes, three masters,
 * started here), with REDIS_URL's cluster form: persisted queries and the
 * response cache shared by two routers, purges that reach every master, a
 * rate limit the two routers hold together, and events on Redis Streams:
 * a consumer group, the tail contract, and a subscription through the
 * router. A master dying under load is redis-cluster-failover.int.test.ts.
 */

const postgresAdminUrl = inject('postgresAdminUrl') ?? undefined;
const speed = await measureMachineSpeed();
const purgeToken = 'purge-token-for-the-redis-cluster-test';
/** The operation the routers limit on their own allowance, counted across both. */
const limited = { name: 'ClusterLimited', points: 5 };
const prefix = `test-${randomUUID()}`;
const logger = testLogger('redis-cluster');

let cluster: RedisClusterServers;
/** The subgraphs' event bus, on the cluster as a subgraph connects to it. */
let busRedis: RedisCache;
let bus: EventBus;
let graph: ShopGraph;
let second: RunningRouter;
const clients: Client[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ speed });
  busRedis = new RedisCache({ url: cluster.url, logger });
  bus = withStreamPrefix(createEventBus({ redis: busRedis.connection, logger }), prefix);
  const settings = {
    redisUrl: cluster.url,
    eventStreamPrefix: prefix,
    // No refill delay: a purge (the seed's events purge too) would keep what these tests store out for
    // a second; the delay has its own tests (router/test/response-cache-store.int.test.ts).
    responseCache: { enabled: true, purgeToken, refillDelayMs: 0 },
    rateLimit: { operations: { [limited.name]: { points: limited.points, windowSeconds: 60 } } },
  };
  graph = await startShopGraph('redis_cluster', settings, { bus, postgresAdminUrl });
  second = await startTestRouter(graph.supergraphPath, settings);
  // The routers connect to the cluster in the background: once each stores and serves an entry, they are on it.
  for (const url of [graph.router.url, second.url]) {
    const warm = { id: seedProduct(119).id };
    await until(async () => (await post(url, productQuery, warm)).cache === 'HIT', {
      what: `the router at ${url} caching in the cluster`,
      timeoutMs: 30_000,
    });
  }
});

afterAll(async () => {
  await second?.stop();
  await graph?.stop();
  await bus?.close();
  await busRedis?.close();
  await cluster?.stop();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map(async (client) => void (await client.dispose())));
});

const productQuery = 'query ($id: ID!) { product(id: $id) { id name } }';

async function post(url: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, cache: response.headers.get('x-cache'), body: (await response.json()) as any };
}

async function purge(url: string, body: unknown) {
  const response = await fetch(url.replace(/\/graphql$/, '/cache/purge'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${purgeToken}` },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { purged: number };
}

/** How many keys matching `pattern` each master holds now, by port. */
async function keysByMaster(pattern: string): Promise<Map<number, number>> {
  const masters = (await cluster.nodes()).filter((node) => node.role === 'master' && !node.failing);
  return new Map(
    await Promise.all(
      masters.map(async (node) => [node.port, (await cluster.keysOn(node.port, pattern)).length] as const),
    ),
  );
}

describe('persisted queries on a cluster', () => {
  it('registers a query on one router and serves it by hash on the other, from the master of its slot', async () => {
    const query = `{ fresh_${randomBytes(6).toString('hex')}: products(first: 2) { totalCount edges { node { name } } } }`;
    const hash = sha256(query);

    const unknown = await postPersisted(second.url, { hash });
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const registered = await postPersisted(graph.router.url, { hash, query });
    expect(registered.body.errors).toBeUndefined();
    const served = await postPersisted(second.url, { hash });
    expect(served.status).toBe(200);
    expect(served.body).toEqual(registered.body);

    const { master } = await cluster.masterFor(`apq:${hash}`);
    expect(await cluster.keysOn(master.port, `apq:${hash}`)).toEqual([`apq:${hash}`]);
  });
});

describe('the response cache on a cluster', () => {
  it('serves one router’s entry from the other and purges a tag for both', async () => {
    const product = seedProduct(21);
    expect((await post(graph.router.url, productQuery, { id: product.id })).cache).toBe('MISS');
    const hit = await post(second.url, productQuery, { id: product.id });
    expect(hit.cache).toBe('HIT');
    expect(hit.body.data.product.name).toBe(product.name);

    expect((await purge(second.url, { entities: [{ type: 'Product', id: product.id }] })).purged).toBeGreaterThan(0);
    expect((await post(graph.router.url, productQuery, { id: product.id })).cache).toBe('MISS');
    expect((await post(second.url, productQuery, { id: product.id })).cache).toBe('HIT');
  });

  it('purges everything from every master, keeping the purge count and marks', async () => {
    // Entries enough that every master holds some: each lands on the master of its key's slot.
    for (let index = 30; index < 60; index++) {
      const response = await post(graph.router.url, productQuery, { id: seedProduct(index).id });
      expect(response.body.errors).toBeUndefined();
    }
    const entries = await keysByMaster('rc:e:*');
    const total = [...entries.values()].reduce((sum, count) => sum + count, 0);
    expect([...entries.values()].filter((count) => count > 0).length).toBeGreaterThan(1);
    // Tag sets too: each master holds some (dozens of tags, each in a slot of its own).
    const tagSets = [...(await keysByMaster('rc:t:*')).values()];
    expect(tagSets).toHaveLength(3);
    for (const count of tagSets) expect(count).toBeGreaterThan(0);

    const { purged } = await purge(second.url, { all: true });
    expect(purged).toBe(total);
    expect([...(await keysByMaster('rc:[et]:*')).values()]).toEqual([0, 0, 0]);
    const { master } = await cluster.masterFor('rc:g');
    expect(await cluster.keysOn(master.port, 'rc:g')).toEqual(['rc:g']);

    // And the cache goes on from empty.
    const product = seedProduct(30);
    expect((await post(second.url, productQuery, { id: product.id })).cache).toBe('MISS');
    expect((await post(graph.router.url, productQuery, { id: product.id })).cache).toBe('HIT');
  });

  it('keeps no entry whose tag set, on another master, failed to take it', async () => {
    const store = new RedisResponseStore(busRedis, { refillDelayMs: 0 });
    const key = `entry-${randomUUID()}`;
    const entryMaster = (await cluster.masterFor(`rc:e:${createHash('sha256').update(key).digest('hex')}`)).master;
    // A tag whose set lives on another master than the entry: the write's batches go to both.
    let tag: string;
    do tag = `Product:${randomUUID()}`;
    while ((await cluster.masterFor(`rc:t:${tag}`)).master.id === entryMaster.id);
    // That master refuses its part of the batch (WRONGTYPE), as a master that fails does, while the entry's SET lands.
    await busRedis.connection.set(`rc:t:${tag}`, 'not a sorted set');
    const response = {
      body: Buffer.from('{}'),
      createdAt: Date.now(),
      maxAgeSeconds: 60,
      scope: 'PUBLIC' as const,
      contentType: 'application/json',
    };
    await store.set(key, response, [`Product:${randomUUID()}`, tag], (await store.generation())!);
    expect(await store.get(key)).toBeUndefined();
    // Without the refusing tag set, the same write is kept.
    await store.set(key, response, [`Product:${randomUUID()}`], (await store.generation())!);
    expect(await store.get(key)).toBeDefined();
  });
});

describe('rate limits on a cluster', () => {
  it('hold one caller to one allowance across two routers', async () => {
    const query = `query ${limited.name} { products(first: 1) { totalCount } }`;
    const statuses: number[] = [];
    for (let index = 0; index < limited.points + 3; index++)
      statuses.push((await post(index % 2 === 0 ? graph.router.url : second.url, query)).status);
    expect(statuses).toEqual([...Array<number>(limited.points).fill(200), 429, 429, 429]);

    const key = `rl:op:${limited.name}:ip:127.0.0.1`;
    const { master } = await cluster.masterFor(key);
    expect(await cluster.keysOn(master.port, key)).toEqual([key]);
  });
});

describe('events on a cluster', () => {
  it('delivers an event to a consumer group, from the master of the stream’s slot, and dead-letters beside it', async () => {
    const stream = `checked-${randomUUID()}`;
    const handled: string[] = [];
    const poison = newEvent('Checked', 'poison', { poison: true });
    const subscription = bus.subscribe({
      stream,
      group: 'cluster-test',
      consumer: 'c',
      blockMs: 200,
      maxAttempts: 1,
      handle: async (event) => {
        if (event.id === poison.id) throw new Error('poison');
        handled.push(event.id);
      },
    });
    const events = Array.from({ length: 3 }, (_, index) => newEvent('Checked', `item-${index}`, { index }));
    try {
      await bus.publish(stream, [...events, poison]);
      await until(() => handled.length === 3, { what: 'three events handled', timeoutMs: 30_000 });
      expect(handled).toEqual(events.map((event) => event.id));
      await until(async () => (await bus.stats(stream, 'cluster-test')).deadLetters === 1, {
        what: 'the poison event dead-lettered',
        timeoutMs: 30_000,
      });
      expect(await bus.stats(stream, 'cluster-test')).toMatchObject({ length: 4, lag: 0, pending: 0 });
    } finally {
      await subscription.stop();
    }

    // On the stream's master: the stream, and under whatever name the bus gave them, its dead
    // letters, which one MULTI with the entry's XACK could only write in the stream's slot.
    const key = `${prefix}:${stream}`;
    const { master } = await cluster.masterFor(key);
    const keys = await cluster.keysOn(master.port, `*${key}*`);
    expect(keys).toContain(key);
    const deadLetters = keys.filter((name) => name !== key);
    expect(deadLetters).toHaveLength(1);
    expect(await cluster.command(master.port, 'XRANGE', deadLetters[0]!, '-', '+')).toContain(poison.id);
  });

  it('carries a reservation made behind the router to both routers, which purge the product’s cached answer', async () => {
    const product = seedProduct(33);
    const page = 'query ($id: ID!) { product(id: $id) { id quantity } }';
    expect((await post(graph.router.url, page, { id: product.id })).cache).toBe('MISS');
    const cached = await post(second.url, page, { id: product.id });
    expect(cached.cache).toBe('HIT');
    const quantity = cached.body.data.product.quantity as number;

    // Orders publishes the order, inventory consumes it and publishes the reservation: both on the cluster.
    const shopper = `Bearer ${await signTestToken(testJwtSecret, seedUser(5).id)}`;
    const placed = await graph.query(
      'mutation ($items: [OrderLineInput!]!, $key: String!) { placeOrder(input: { items: $items, idempotencyKey: $key }) { order { id } } }',
      { items: [{ productId: product.id, quantity: 2 }], key: randomUUID() },
      { authorization: shopper },
    );
    expect(placed.body.errors).toBeUndefined();
    await until(
      async () => {
        const answer = await post(second.url, page, { id: product.id });
        return answer.cache === 'MISS' && answer.body.data.product.quantity === quantity - 2;
      },
      { what: 'the cached product page purged by the reservation’s event', timeoutMs: 30_000 },
    );
  });

  it('sends a stock change to a subscriber through the router', async () => {
    const product = seedProduct(7);
    const admin = `Bearer ${await signTestToken(testJwtSecret, seedUser(2).id, ['admin'])}`;
    const client = createClient({
      url: graph.router.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    clients.push(client);
    const received: any[] = [];
    client.subscribe(
      {
        query: `subscription ($productId: ID!) { stockChanged(productId: $productId) { quantity product { id name } } }`,
        variables: { productId: product.id },
      },
      { next: (result) => void received.push(result), error: () => {}, complete: () => {} },
    );
    const before = graph.subgraphs.inventory.subscriptions().started;
    await until(() => graph.subgraphs.inventory.subscriptions().started > before, {
      what: 'the subscription opened on inventory',
      timeoutMs: 20_000,
    });
    // A change made as the subscription opens may come before its start: restock until one arrives.
    for (let attempt = 0; received.length === 0; attempt++) {
      const restocked = await graph.query(
        'mutation ($productId: ID!) { restock(productId: $productId, quantity: 1) { product { quantity } } }',
        { productId: product.id },
        { authorization: admin },
      );
      expect(restocked.body.errors).toBeUndefined();
      await until(() => received.length > 0, { what: 'a stock change', timeoutMs: 2_000 }).catch((error: unknown) => {
        if (attempt >= 10) throw error;
      });
    }
    expect(received[0].errors).toBeUndefined();
    expect(received[0].data.stockChanged.product).toEqual({ id: product.id, name: product.name });
  });

  it('starts a subgraph given the cluster as its Redis, and its consumer reads from the cluster', async () => {
    const ownPrefix = `test-${randomUUID()}`;
    const database = await createTestDatabase('redis_cluster_inventory', postgresAdminUrl ?? null);
    try {
      // No bus given: the subgraph connects to REDIS_URL itself, as a deployed one does.
      const inventory = await startSubgraph(
        await loadSubgraph('inventory'),
        subgraphOnCluster(cluster, database.target, ownPrefix),
        testLogger('inventory'),
      );
      try {
        // Its consumer of the orders stream created its group, and with it the stream, on the stream's master.
        const stream = `${ownPrefix}:orders`;
        const { master } = await cluster.masterFor(stream);
        await until(async () => (await cluster.keysOn(master.port, stream)).length === 1, {
          what: 'the inventory consumer’s group on the cluster',
          timeoutMs: 30_000,
        });
      } finally {
        await inventory.stop();
      }
    } finally {
      await database.drop();
    }
  });

  describe('tails', () => {
    tailContract(async (options) => {
      const redis = new RedisCache({ url: cluster.url, logger });
      await until(() => redis.connected, { what: 'connected to the cluster', timeoutMs: 30_000 });
      const tailBus = new RedisStreamsBus({ redis: redis.connection, logger, ...options });
      return {
        bus: tailBus,
        async close() {
          await tailBus.close();
          await redis.close();
        },
      };
    });
  });
});
