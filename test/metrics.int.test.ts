import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/src/db/database.ts';
import { MemoryBus } from '../platform/src/events/index.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import * as orderTables from '../subgraphs/orders/src/db/schema.ts';
import { subgraphs } from '../subgraphs/registry.ts';
import { scrape, type Scrape } from './support/metrics.ts';
import { sha256 } from './support/persisted-queries.ts';
import { freePorts } from './support/processes.ts';
import { composeFor, startShopGraph, startTestRouter, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * Prometheus metrics on the whole graph, over real HTTP: the router and
 * every subgraph serve /metrics, and traffic of every kind (plain queries,
 * persisted-query hits and misses, response-cache hits, rate-limited
 * requests, an order whose events flow between subgraphs) moves the series
 * that describe it, without any label taken from raw query text.
 */

let graph: ShopGraph;
let bus: MemoryBus;

beforeAll(async () => {
  bus = new MemoryBus({ logger: testLogger('bus') });
  graph = await startShopGraph(
    'metrics',
    {
      rateLimit: {
        // Generous for everything the test sends, except the one caller it floods.
        perCaller: { points: 30, windowSeconds: 60 },
        operations: { LimitedProbe: { points: 1, windowSeconds: 60 } },
        trustedProxies: 0,
      },
    },
    { bus },
  );
});

afterAll(async () => {
  await graph?.stop();
  await bus?.close();
});

/** POSTs a request body as given (operation name, APQ extensions) to the router. */
async function send(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(graph.router.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, cache: response.headers.get('x-cache'), body: (await response.json()) as any };
}

const bearer = async (subject: string, scopes: string[] = []) => ({
  authorization: `Bearer ${await signTestToken(testJwtSecret, subject, scopes)}`,
});

/** How much a series moved between two scrapes, summed over the samples that match `labels`. */
const moved = (before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}) =>
  after.sum(name, labels) - before.sum(name, labels);

describe('metrics', () => {
  it('are served by the router and by every subgraph, with the process metrics', async () => {
    const router = await scrape(graph.router);
    expect(router.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(router.text).toContain('# TYPE graphql_request_duration_seconds histogram');
    expect(router.text).toContain('# TYPE router_subgraph_fetch_duration_seconds histogram');
    for (const { name } of subgraphs) {
      const subgraph = await scrape(graph.subgraphs[name]);
      expect(subgraph.has('nodejs_eventloop_lag_seconds'), name).toBe(true);
      expect(subgraph.sum('db_pool_connections_max'), name).toBeGreaterThan(0);
      expect(subgraph.text, name).toContain('# TYPE db_query_duration_seconds histogram');
    }
  });

  it('move with traffic: requests, fetches, caches, rate limits, the database and the event flow', async () => {
    const [routerBefore, productsBefore, ordersBefore] = await Promise.all([
      scrape(graph.router),
      scrape(graph.subgraphs.products),
      scrape(graph.subgraphs.orders),
    ]);

    // A cacheable query, twice: stored on the first, a response-cache hit on the second.
    const productPage = {
      query: 'query MetricsProductPage { products(first: 2) { edges { node { id name } } } }',
      operationName: 'MetricsProductPage',
    };
    const first = await send(productPage);
    expect(first.body.errors).toBeUndefined();
    expect(first.cache).toBe('MISS');
    expect((await send(productPage)).cache).toBe('HIT');

    // An automatic persisted query: unknown hash (miss), registered, then found (hit).
    const apqQuery = `query MetricsApqProbe { __typename }`;
    const persisted = { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(apqQuery) } } };
    const miss = await send({ ...persisted, operationName: 'MetricsApqProbe' });
    expect(miss.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect((await send({ ...persisted, query: apqQuery })).body.data).toEqual({ __typename: 'Query' });
    const hit = await send(persisted);
    expect(hit.body.data).toEqual({ __typename: 'Query' });
    expect(hit.cache).not.toBe('HIT');

    // An operation over its own allowance, refused once Apollo Server knows the operation.
    const limited = { query: 'query LimitedProbe { __typename }' };
    expect((await send(limited)).status).toBe(200);
    expect((await send(limited)).status).toBe(429);

    // One caller over the per-caller allowance, refused before anything is parsed.
    const flooder = await bearer('metrics-flooder');
    for (let index = 0; index < 30; index++)
      expect((await send({ query: '{ __typename }' }, flooder)).status).toBe(200);
    const refused = await send({ query: 'query RejectedBeforeParsing { __typename }' }, flooder);
    expect(refused.status).toBe(429);

    // An order: the orders subgraph writes it and its outbox, the relay publishes, inventory answers.
    const shopper = await bearer(seedUser(0).id);
    const placed = await send(
      {
        query: `mutation MetricsPlaceOrder($items: [OrderLineInput!]!, $key: String!) {
          placeOrder(input: { items: $items, idempotencyKey: $key }) { order { id } }
        }`,
        variables: { items: [{ productId: seedProduct(3).id, quantity: 1 }], key: randomUUID() },
      },
      shopper,
    );
    expect(placed.body.errors).toBeUndefined();
    const orderId = placed.body.data.placeOrder.order.id as string;
    const ordersDb = graph.subgraphs.orders.database.db as unknown as Database<typeof orderTables>;
    await until(
      async () => {
        const [order] = await ordersDb.select().from(orderTables.orders).where(eq(orderTables.orders.id, orderId));
        return order !== undefined && order.status !== 'PENDING';
      },
      { timeoutMs: 15_000, what: 'inventory deciding the order' },
    );

    const [router, products, orders, inventory] = await Promise.all([
      scrape(graph.router),
      scrape(graph.subgraphs.products),
      scrape(graph.subgraphs.orders),
      scrape(graph.subgraphs.inventory),
    ]);

    // Request durations, by the operation the document names; a cache hit counts under the name it was stored for.
    const requests = 'graphql_request_duration_seconds_count';
    expect(moved(routerBefore, router, requests, { operation: 'MetricsProductPage', outcome: 'ok' })).toBe(2);
    expect(moved(routerBefore, router, requests, { operation: 'MetricsPlaceOrder', outcome: 'ok' })).toBe(1);
    expect(moved(routerBefore, router, requests, { operation: 'LimitedProbe', status: '429' })).toBe(1);
    expect(moved(routerBefore, router, requests, { operation: 'anonymous', status: '429' })).toBe(1);
    expect(moved(routerBefore, router, 'graphql_request_duration_seconds_sum')).toBeGreaterThan(0);

    // Caches, so that a hit ratio can be computed.
    const lookups = 'router_cache_lookups_total';
    expect(moved(routerBefore, router, lookups, { cache: 'response', result: 'hit' })).toBe(1);
    expect(moved(routerBefore, router, lookups, { cache: 'response', result: 'miss' })).toBeGreaterThanOrEqual(1);
    expect(moved(routerBefore, router, lookups, { cache: 'apq', result: 'hit' })).toBe(1);
    expect(moved(routerBefore, router, lookups, { cache: 'apq', result: 'miss' })).toBe(1);

    // Rate limits, by the allowance that refused.
    const rejections = 'router_rate_limit_rejections_total';
    expect(moved(routerBefore, router, rejections, { limit: 'operation' })).toBe(1);
    expect(moved(routerBefore, router, rejections, { limit: 'caller' })).toBe(1);

    // Subgraph fetches, by subgraph.
    const fetches = 'router_subgraph_fetch_duration_seconds_count';
    expect(moved(routerBefore, router, fetches, { subgraph: 'products' })).toBeGreaterThanOrEqual(1);
    expect(moved(routerBefore, router, fetches, { subgraph: 'orders' })).toBeGreaterThanOrEqual(1);

    // Each subgraph times its own requests and its statements.
    expect(moved(productsBefore, products, requests)).toBeGreaterThanOrEqual(1);
    expect(moved(ordersBefore, orders, requests, { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(moved(ordersBefore, orders, 'db_query_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThan(0);
    expect(orders.has('db_queries_in_flight')).toBe(true);
    expect(orders.has('db_pool_connections_in_use')).toBe(true);

    // The event flow: streams each subgraph consumes, as its group, and the age of its outbox.
    expect(inventory.sum('events_stream_length', { stream: 'orders' })).toBeGreaterThanOrEqual(1);
    expect(orders.sum('events_stream_length', { stream: 'inventory' })).toBeGreaterThanOrEqual(1);
    expect(orders.has('events_consumer_pending', { stream: 'inventory', group: 'orders' })).toBe(true);
    expect(orders.has('events_consumer_lag', { stream: 'inventory', group: 'orders' })).toBe(true);
    expect(orders.sum('events_dead_letters', { stream: 'inventory' })).toBe(0);
    expect(orders.sum('events_bus_up')).toBe(1);
    for (const publisher of [orders, inventory, products]) {
      const age = publisher.find('events_outbox_oldest_unpublished_age_seconds');
      expect(age).toHaveLength(1);
      expect(age[0]!.value).toBeGreaterThanOrEqual(0);
    }
  });

  it('never take a label value from raw query text or from a name no parsed document has', async () => {
    await send({ query: '{ products(first: 1, filter: { category: "marker-in-a-literal" }) { totalCount } }' });
    await send({ query: '{ markerAlias: __typename }' });
    await send({ query: 'query MarkerUnparsed { __typename', operationName: 'MarkerUnparsed' });
    await send({ query: 'query Named { __typename }', operationName: 'MarkerNotInDocument' });
    const router = await scrape(graph.router);
    for (const marker of [
      'marker-in-a-literal',
      'markerAlias',
      'MarkerUnparsed',
      'MarkerNotInDocument',
      'RejectedBeforeParsing',
    ]) {
      expect(router.text, marker).not.toContain(marker);
    }
    // Every label value of the request histogram is a name from a parsed document, or one of the two fallbacks.
    for (const operation of router.labelValues('graphql_request_duration_seconds_count', 'operation'))
      expect(operation).toMatch(/^([_A-Za-z]\w*)$/);
  });

  it('count fetches that fail, by subgraph and reason', async () => {
    const [deadPort] = await freePorts(1);
    const workdir = await mkdtemp(join(tmpdir(), 'metrics-'));
    const supergraphPath = join(workdir, 'supergraph.graphql');
    await writeFile(supergraphPath, composeFor(graph.subgraphs));
    const router = await startTestRouter(supergraphPath, {
      subgraphUrls: { REVIEWS: `http://127.0.0.1:${deadPort}/graphql` },
    });
    try {
      const response = await fetch(router.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ products(first: 1) { edges { node { id reviewCount } } } }' }),
      });
      expect(((await response.json()) as any).errors).toBeDefined();
      const metrics = await scrape(router);
      // A refused query is sent three times: once, and the two retries of the default policy.
      expect(metrics.sum('router_subgraph_fetch_errors_total', { subgraph: 'reviews', reason: 'network' })).toBe(3);
      expect(metrics.sum('router_subgraph_fetch_errors_total', { subgraph: 'products' })).toBe(0);
      expect(metrics.sum('router_subgraph_fetch_duration_seconds_count', { subgraph: 'reviews' })).toBe(3);
      // Too few requests to open the breaker.
      expect(metrics.sum('router_subgraph_circuit_open', { subgraph: 'reviews' })).toBe(0);
    } finally {
      await router.stop();
      await rm(workdir, { recursive: true, force: true });
    }
  });
});
