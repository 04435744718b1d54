import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEventBus } from '../platform/src/events/index.ts';
import { createLogger } from '../platform/src/logger.ts';
import { startTracing, type Tracing } from '../platform/src/tracing.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import type { SubgraphName } from '../subgraphs/registry.ts';
import { startShopGraph, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * Logs and traces of requests through the whole graph, in-process: every
 * span goes to an in-memory exporter, every log line of every service to
 * `written`.
 */

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let graph: ShopGraph;
const bus = createEventBus({ redis: null, logger: testLogger('bus') });
const written: string[] = [];

beforeAll(async () => {
  tracing = startTracing(
    { serviceName: 'shop-graph-test', tracesUrl: null, sampler: 'parentbased_always_on', samplerRatio: 1 },
    { spanProcessors: [new SimpleSpanProcessor(exporter)] },
  );
  graph = await startShopGraph(
    'observability',
    // Every request reaches the subgraphs: a cached answer would have no spans or lines of theirs.
    { responseCache: { enabled: false } },
    {
      // In-process: events and subscriptions without Redis.
      bus,
      loggerFor: (service) =>
        createLogger({ service, level: 'debug', destination: { write: (line: string) => void written.push(line) } }),
    },
  );
});

afterAll(async () => {
  await graph?.stop();
  await bus.close();
  await tracing?.shutdown();
});

// Products from the catalog, each with its stock from inventory: two subgraphs, one after the other.
const stockedProducts = /* GraphQL */ `
  query StockedProducts {
    products(first: 3) {
      edges {
        node {
          id
          name
          quantity
        }
      }
    }
  }
`;

const attribute = (span: ReadableSpan, key: string) => span.attributes[key];
const isServerSpanOf = (port: number) => (span: ReadableSpan) =>
  span.kind === SpanKind.SERVER && attribute(span, 'server.port') === port;

/** The router's server span for the request with this id, once it has ended. */
async function routerSpanOf(requestId: string): Promise<ReadableSpan> {
  const find = () =>
    exporter
      .getFinishedSpans()
      .find(
        (span) =>
          isServerSpanOf(graph.router.port)(span) &&
          (attribute(span, 'http.request.header.x-request-id') as string[] | undefined)?.[0] === requestId,
      );
  await until(() => find() !== undefined, { what: `the router's span of ${requestId}` });
  return find()!;
}

function spansOfTrace(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
}

/** Whether `ancestor` is `span`'s parent, or its parent's, and so on, within `spans`. */
function descendsFrom(span: ReadableSpan, ancestor: ReadableSpan, spans: ReadableSpan[]): boolean {
  const byId = new Map(spans.map((candidate) => [candidate.spanContext().spanId, candidate]));
  for (
    let parentId = span.parentSpanContext?.spanId;
    parentId;
    parentId = byId.get(parentId)?.parentSpanContext?.spanId
  ) {
    if (parentId === ancestor.spanContext().spanId) return true;
  }
  return false;
}

describe('traces', () => {
  it('make one trace of a request: router, gateway fetch, subgraph server span, resolvers and statements', async () => {
    const response = await graph.query<{ products: { edges: Array<{ node: { id: string } }> } }>(
      stockedProducts,
      undefined,
      { 'x-request-id': 'trace-two-subgraphs' },
    );
    expect(response.body.errors).toBeUndefined();
    const productIds = response.body.data!.products.edges.map((edge) => edge.node.id);
    expect(productIds).toHaveLength(3);

    const routerSpan = await routerSpanOf('trace-two-subgraphs');
    const traceId = routerSpan.spanContext().traceId;
    expect(routerSpan.parentSpanContext?.spanId).toBeUndefined();
    expect(attribute(routerSpan, 'graphql.operation.name')).toBe('StockedProducts');
    const subgraphPorts = (['products', 'inventory'] as const).map((name) => graph.subgraphs[name].port);
    await until(() => subgraphPorts.every((port) => spansOfTrace(traceId).some(isServerSpanOf(port))), {
      what: 'both subgraphs’ server spans',
    });
    const spans = spansOfTrace(traceId);

    // The gateway's own spans are in the router's trace, under its server span.
    const gatewayRequest = spans.find((span) => span.name === 'gateway.request');
    expect(gatewayRequest).toBeDefined();
    expect(descendsFrom(gatewayRequest!, routerSpan, spans)).toBe(true);

    for (const name of ['products', 'inventory'] satisfies SubgraphName[]) {
      const fetches = spans.filter((span) => span.name === 'gateway.fetch' && attribute(span, 'service') === name);
      expect(fetches, `gateway.fetch spans for ${name}`).toHaveLength(1);
      expect(descendsFrom(fetches[0]!, routerSpan, spans)).toBe(true);

      const serverSpans = spans.filter(isServerSpanOf(graph.subgraphs[name].port));
      expect(serverSpans, `${name} server spans`).toHaveLength(1);
      const subgraphSpan = serverSpans[0]!;
      expect(subgraphSpan.parentSpanContext?.spanId).toBe(fetches[0]!.spanContext().spanId);

      // Statements ran for this subgraph's request, under its server span, through a root field's span.
      const statements = spans.filter(
        (span) => attribute(span, 'db.system') === 'postgresql' && descendsFrom(span, subgraphSpan, spans),
      );
      expect(statements.length, `${name} statements`).toBeGreaterThan(0);
      for (const statement of statements) {
        expect(statement.kind).toBe(SpanKind.CLIENT);
        expect(statement.name).toMatch(/^[A-Z]+$/);
        const text = attribute(statement, 'db.statement') as string;
        expect(text).toMatch(/^\s*(select|with|insert|update|delete)\b/i);
        // Values travel as parameters: none of the ids asked about is in a statement.
        for (const id of productIds) expect(text).not.toContain(id);
      }
      const rootField = spans.find(
        (span) => span.name === (name === 'products' ? 'Query.products' : 'Query._entities'),
      );
      expect(rootField, `${name} root field span`).toBeDefined();
      expect(rootField!.parentSpanContext?.spanId).toBe(subgraphSpan.spanContext().spanId);
      expect(statements.some((statement) => descendsFrom(statement, rootField!, spans))).toBe(true);
    }

    // Every statement of the trace belongs to one subgraph request or the other.
    const subgraphSpans = spans.filter((span) => subgraphPorts.some((port) => isServerSpanOf(port)(span)));
    for (const statement of spans.filter((span) => attribute(span, 'db.system') === 'postgresql'))
      expect(subgraphSpans.some((subgraphSpan) => descendsFrom(statement, subgraphSpan, spans))).toBe(true);
  });

  it('keep each request’s trace when parallel fetches are merged into one subgraph request', async () => {
    // Two lists of products: inventory is asked for both lists' stock in one plan step. The executor sends both
    // lists' products as one fetch; concurrent callers' fetches may still share one request (per-caller dedup).
    const twoLists = /* GraphQL */ `
      query TwoLists($first: Int!) {
        cheapest: products(first: $first, orderBy: PRICE_ASC) {
          edges {
            node {
              id
              quantity
            }
          }
        }
        newest: products(first: $first, orderBy: NEWEST) {
          edges {
            node {
              id
              quantity
            }
          }
        }
      }
    `;
    // Different sizes: identical requests in flight together would share one fetch, and its trace.
    const requests = [
      { requestId: 'merged-1', first: 1 },
      { requestId: 'merged-2', first: 2 },
      { requestId: 'merged-3', first: 3 },
    ];
    const responses = await Promise.all(
      requests.map(({ requestId, first }) => graph.query(twoLists, { first }, { 'x-request-id': requestId })),
    );
    for (const response of responses) expect(response.body.errors).toBeUndefined();

    const inventoryPort = graph.subgraphs.inventory.port;
    for (const { requestId } of requests) {
      const traceId = (await routerSpanOf(requestId)).spanContext().traceId;
      await until(() => spansOfTrace(traceId).some(isServerSpanOf(inventoryPort)), {
        what: `the inventory span of ${requestId}`,
      });
      const spans = spansOfTrace(traceId);
      const fetches = spans.filter(
        (span) => span.name === 'gateway.fetch' && attribute(span, 'service') === 'inventory',
      );
      expect(fetches).toHaveLength(1);
      const inventorySpans = spans.filter(isServerSpanOf(inventoryPort));
      // One request for both lists, under the fetch's span, in this request's own trace.
      expect(inventorySpans).toHaveLength(1);
      expect(inventorySpans[0]!.parentSpanContext?.spanId).toBe(fetches[0]!.spanContext().spanId);
    }
  });

  it('continue the trace context a client sends', async () => {
    const client = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };
    const response = await graph.query(stockedProducts, undefined, {
      'x-request-id': 'trace-from-client',
      traceparent: `00-${client.traceId}-${client.spanId}-01`,
    });
    expect(response.body.errors).toBeUndefined();
    const routerSpan = await routerSpanOf('trace-from-client');
    expect(routerSpan.spanContext().traceId).toBe(client.traceId);
    expect(routerSpan.parentSpanContext?.spanId).toBe(client.spanId);
    const inventoryPort = graph.subgraphs.inventory.port;
    await until(() => spansOfTrace(client.traceId).some(isServerSpanOf(inventoryPort)), {
      what: 'the inventory span in the client’s trace',
    });
  });
});

describe('traces of subscription events', () => {
  it('put a stock event in the trace of the restock that caused it: its execution on inventory, its completion on the router', async () => {
    const product = seedProduct(4);
    const admin = `Bearer ${await signTestToken(testJwtSecret, seedUser(2).id, ['admin'])}`;
    const client = createClient({
      url: graph.router.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    const quantities: number[] = [];
    const opened = graph.subgraphs.inventory.subscriptions().started;
    const stop = client.subscribe(
      {
        query: `subscription ($id: ID!) { stockChanged(productId: $id) { quantity product { name } } }`,
        variables: { id: product.id },
      },
      {
        next: (result) =>
          void quantities.push((result.data as { stockChanged: { quantity: number } }).stockChanged.quantity),
        error: () => {},
        complete: () => {},
      },
    );
    try {
      await until(() => graph.subgraphs.inventory.subscriptions().started > opened, {
        what: 'the subscription on inventory',
      });
      // A change made as the subscription opens may come before its start: restock until one is seen.
      let seen: { requestId: string; quantity: number } | undefined;
      const restocks: Array<{ requestId: string; quantity: number }> = [];
      for (let attempt = 0; !seen && attempt < 20; attempt++) {
        const requestId = `trace-restock-${attempt}`;
        const answer = await graph.query<{ restock: { product: { quantity: number } } }>(
          `mutation ($id: ID!) { restock(productId: $id, quantity: 1) { product { quantity } } }`,
          { id: product.id },
          { authorization: admin, 'x-request-id': requestId },
        );
        restocks.push({ requestId, quantity: answer.body.data!.restock.product.quantity });
        await until(() => quantities.length > 0, { what: 'an event', timeoutMs: 2_000 }).catch(() => {});
        seen = restocks.find(({ quantity }) => quantities.includes(quantity));
      }
      expect(seen, 'a restock whose event arrived').toBeDefined();

      const routerSpan = await routerSpanOf(seen!.requestId);
      const traceId = routerSpan.spanContext().traceId;
      const eventSpans = () => spansOfTrace(traceId).filter((span) => span.name === 'subscription.event');
      await until(() => eventSpans().length === 2, { what: "the event's spans on inventory and the router" });
      const spans = spansOfTrace(traceId);
      for (const span of eventSpans()) {
        expect(span.kind).toBe(SpanKind.CONSUMER);
        expect(descendsFrom(span, routerSpan, spans)).toBe(true);
      }
      // The router's completion fetched the product's name from products, within the event's span.
      const completion = eventSpans().find((span) => attribute(span, 'graphql.subscription.field') === 'stockChanged');
      expect(completion).toBeDefined();
      const nameFetch = spans.find(
        (span) =>
          span.name === 'gateway.fetch' &&
          attribute(span, 'service') === 'products' &&
          descendsFrom(span, completion!, spans),
      );
      expect(nameFetch, "the entity fetch under the router's event span").toBeDefined();
    } finally {
      stop();
      await client.dispose();
    }
  });
});

type LogLine = Record<string, unknown> & { service: string; msg: string };
const logLines = () => written.map((line) => JSON.parse(line) as LogLine);

describe('logs', () => {
  it('carry the request id, trace id and operation name on the router and the subgraphs', async () => {
    const response = await graph.query(stockedProducts, undefined, { 'x-request-id': 'logs-two-subgraphs' });
    expect(response.body.errors).toBeUndefined();
    const traceId = (await routerSpanOf('logs-two-subgraphs')).spanContext().traceId;
    const requestLines = () => logLines().filter((line) => line.requestId === 'logs-two-subgraphs');
    const services = ['router', 'products', 'inventory'];
    await until(
      () =>
        services.every((service) =>
          requestLines().some((line) => line.service === service && line.msg === 'graphql request'),
        ),
      { what: 'a request line from each service' },
    );

    for (const line of requestLines()) expect(line.traceId, `${line.service}: ${line.msg}`).toBe(traceId);
    const served = (service: string) =>
      requestLines().find((line) => line.service === service && line.msg === 'graphql request')!;
    expect(served('router')).toMatchObject({ operationName: 'StockedProducts', status: 200 });
    // The gateway names each subgraph operation after the client's.
    expect(served('products').operationName).toMatch(/^StockedProducts__products__\d+$/);
    expect(served('inventory').operationName).toMatch(/^StockedProducts__inventory__\d+$/);
  });

  it('never print a bearer token, nor the identity the router signs for the subgraphs', async () => {
    const token = await signTestToken(testJwtSecret, seedUser(3).id);
    const response = await graph.query('query Me { viewer { id name reviews(first: 2) { totalCount } } }', undefined, {
      authorization: `Bearer ${token}`,
      'x-request-id': 'logs-signed-in',
    });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toMatchObject({ viewer: { id: seedUser(3).id } });
    const requestLines = () => logLines().filter((line) => line.requestId === 'logs-signed-in');
    await until(
      () =>
        ['router', 'accounts', 'reviews'].every((service) =>
          requestLines().some((line) => line.service === service && line.msg === 'graphql request'),
        ),
      { what: 'a request line from each service' },
    );

    // The claims and the signature, each alone; the header is the same in every HS256 token.
    for (const part of token.split('.').slice(1)) expect(written.join('\n')).not.toContain(part);
    const headersOf = (service: string) =>
      (
        requestLines().find((line) => line.service === service && line.msg === 'graphql request')!.req as {
          headers: Record<string, string>;
        }
      ).headers;
    expect(headersOf('router').authorization).toBe('[redacted]');
    // The identity reached both subgraphs, and neither printed it.
    expect(headersOf('accounts')['x-verified-identity']).toBe('[redacted]');
    expect(headersOf('reviews')['x-verified-identity']).toBe('[redacted]');
  });
});
