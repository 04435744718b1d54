import { ApolloServer } from '@apollo/server';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scrape, scrape } from '../../test/support/metrics.ts';
import { openDatabase } from '../src/db/database.ts';
import { MemoryBus, newEvent, type EventBus } from '../src/events/index.ts';
import { registerEventMetrics } from '../src/events/metrics.ts';
import { close, createHttpService, createMetricsService, listen } from '../src/http/server.ts';
import { createLogger } from '../src/logger.ts';
import { Metrics, type MetricsContext } from '../src/metrics.ts';

/** The metrics every service shares: /metrics, request durations, the database and the event flow. */

const logger = createLogger({ service: 'metrics-test', level: 'silent' });

describe('a service with metrics', () => {
  let apollo: ApolloServer<MetricsContext>;
  let server: ReturnType<typeof createHttpService>;
  let metricsServer: ReturnType<typeof createMetricsService>;
  let base: string;
  /** The metrics port, apart from the service's own. */
  let metricsBase: string;
  const service = {
    get metricsUrl() {
      return `${metricsBase}/metrics`;
    },
  };

  beforeAll(async () => {
    const metrics = new Metrics();
    apollo = new ApolloServer<MetricsContext>({
      typeDefs: 'type Query { hello: String, broken: String }',
      resolvers: {
        Query: {
          hello: () => 'hi',
          broken: () => {
            throw new Error('broken on purpose');
          },
        },
      },
      plugins: [metrics.plugin()],
    });
    await apollo.start();
    server = createHttpService({
      logger,
      metrics,
      graphql: (httpGraphQLRequest, _incoming, observed) =>
        apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({ observed }) }),
      readiness: async () => ({}),
    });
    base = (await listen(server, 0, '127.0.0.1')).url;
    metricsServer = createMetricsService(metrics, logger);
    metricsBase = (await listen(metricsServer, 0, '127.0.0.1')).url;
  });

  afterAll(async () => {
    await close(server);
    await close(metricsServer);
    await apollo.stop();
  });

  const post = (body: unknown) =>
    fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((response) => response.status);

  it('serves the process metrics and its own in the Prometheus text format, on its own port only', async () => {
    const response = await fetch(`${metricsBase}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = new Scrape(await response.text());
    expect(metrics.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(metrics.has('process_cpu_seconds_total')).toBe(true);
    expect(metrics.text).toContain('# TYPE graphql_request_duration_seconds histogram');
  });

  it('answers only GET and HEAD on /metrics, and nothing else on the metrics port', async () => {
    const response = await fetch(`${metricsBase}/metrics`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${metricsBase}/metrics`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${metricsBase}/graphql`)).status).toBe(404);
    expect((await fetch(`${metricsBase}/health/ready`)).status).toBe(404);
  });

  it('refuses /metrics on the public port', async () => {
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('graphql_request_duration_seconds');
  });

  it('times each request by the operation the document names, its outcome and status', async () => {
    const before = await scrape(service);
    expect(await post({ query: 'query Greeting { hello }' })).toBe(200);
    expect(await post({ query: 'query Greeting { hello }' })).toBe(200);
    expect(await post({ query: '{ hello }' })).toBe(200);
    expect(await post({ query: 'query Breaking { broken }' })).toBe(200);
    const after = await scrape(service);

    const count = (labels: Record<string, string>) =>
      after.sum('graphql_request_duration_seconds_count', labels) -
      before.sum('graphql_request_duration_seconds_count', labels);
    expect(count({ operation: 'Greeting', outcome: 'ok', status: '200' })).toBe(2);
    expect(count({ operation: 'anonymous', outcome: 'ok', status: '200' })).toBe(1);
    expect(count({ operation: 'Breaking', outcome: 'error', status: '200' })).toBe(1);
    expect(after.sum('graphql_request_duration_seconds_sum', { operation: 'Greeting' })).toBeGreaterThan(0);
  });

  it('never takes a label from what the client sent but no parsed document named', async () => {
    // An operation name the document does not have, and one sent with a document that does not parse.
    expect(await post({ query: 'query Real { hello }', operationName: 'ClientSaysSo' })).toBe(400);
    expect(await post({ query: 'query Unparsed { hello', operationName: 'Unparsed' })).toBe(400);
    expect(await post({ query: '{ hello(marker: "secret-literal") }' })).toBe(400);
    const after = await scrape(service);
    expect(after.text).not.toContain('ClientSaysSo');
    expect(after.text).not.toContain('Unparsed');
    expect(after.text).not.toContain('secret-literal');
    expect(after.has('graphql_request_duration_seconds_count', { operation: 'anonymous', outcome: 'error' })).toBe(
      true,
    );
  });

  it('counts a request refused before GraphQL runs, such as an unreadable body', async () => {
    const before = await scrape(service);
    const status = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{ not json',
    }).then((response) => response.status);
    expect(status).toBe(400);
    const after = await scrape(service);
    const labels = { operation: 'anonymous', outcome: 'error', status: '400' };
    expect(
      after.sum('graphql_request_duration_seconds_count', labels) -
        before.sum('graphql_request_duration_seconds_count', labels),
    ).toBe(1);
  });
});

describe('operation labels', () => {
  it('are the names seen first, up to the cap, then `other`', () => {
    const metrics = new Metrics({ maxOperationNames: 2 });
    expect(metrics.operationLabel('First')).toBe('First');
    expect(metrics.operationLabel('Second')).toBe('Second');
    expect(metrics.operationLabel('Third')).toBe('other');
    expect(metrics.operationLabel('First')).toBe('First');
    expect(metrics.operationLabel(null)).toBe('anonymous');
  });

  it('are `other` for anything that is not a GraphQL name of sane length', () => {
    const metrics = new Metrics();
    expect(metrics.operationLabel('two words')).toBe('other');
    expect(metrics.operationLabel('quote"d')).toBe('other');
    expect(metrics.operationLabel(`A${'a'.repeat(200)}`)).toBe('other');
  });
});

describe('a service without metrics', () => {
  it('has no /metrics', async () => {
    const server = createHttpService({
      logger,
      graphql: async () => {
        throw new Error('not called');
      },
      readiness: async () => ({}),
    });
    const { url } = await listen(server, 0, '127.0.0.1');
    try {
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
    } finally {
      await close(server);
    }
  });
});

describe('database metrics', () => {
  it('time every statement, inside transactions too, and count the connection a transaction holds', async () => {
    const metrics = new Metrics();
    const database = await openDatabase({ kind: 'pglite', dataDir: null }, {}, { metrics });
    try {
      const before = new Scrape(await metrics.scrape());
      await database.db.execute(sql`select 1`);
      let inUseDuringTransaction = -1;
      await database.db.transaction(async (tx) => {
        await tx.execute(sql`select 2`);
        inUseDuringTransaction = new Scrape(await metrics.scrape()).sum('db_pool_connections_in_use');
        await tx.execute(sql`select 3`);
      });
      await expect(database.db.execute(sql`select * from missing_table`)).rejects.toThrow();
      const after = new Scrape(await metrics.scrape());

      expect(inUseDuringTransaction).toBe(1);
      const statements = (outcome: string) =>
        after.sum('db_query_duration_seconds_count', { outcome }) -
        before.sum('db_query_duration_seconds_count', { outcome });
      // select 1, select 2, select 3 (BEGIN and COMMIT are PGlite's own, below the driver).
      expect(statements('ok')).toBe(3);
      expect(statements('error')).toBe(1);
      expect(after.sum('db_pool_connections_max')).toBe(1);
      expect(after.sum('db_pool_connections_in_use')).toBe(0);
      expect(after.sum('db_queries_in_flight')).toBe(0);
    } finally {
      await database.close();
    }
  });
});

describe('event metrics', () => {
  it('read stream length, lag, pending and dead letters from the bus, and the outbox age from the database', async () => {
    const metrics = new Metrics();
    const bus = new MemoryBus({ logger });
    try {
      await bus.publish('orders', [newEvent('OrderPlaced', 'o-1', {}), newEvent('OrderPlaced', 'o-2', {})]);
      registerEventMetrics({
        metrics,
        bus,
        consumed: [{ stream: 'orders', group: 'inventory' }],
        outboxAge: async () => 12.5,
      });
      const scraped = new Scrape(await metrics.scrape());
      expect(scraped.sum('events_stream_length', { stream: 'orders' })).toBe(2);
      expect(scraped.sum('events_consumer_lag', { stream: 'orders', group: 'inventory' })).toBe(2);
      expect(scraped.sum('events_consumer_pending', { stream: 'orders', group: 'inventory' })).toBe(0);
      expect(scraped.sum('events_dead_letters', { stream: 'orders' })).toBe(0);
      expect(scraped.sum('events_bus_up')).toBe(1);
      expect(scraped.sum('events_outbox_oldest_unpublished_age_seconds')).toBe(12.5);
    } finally {
      await bus.close();
    }
  });

  it('measure the outbox without a bus: how long its events have waited', async () => {
    const metrics = new Metrics();
    registerEventMetrics({ metrics, bus: null, consumed: [], outboxAge: async () => 90 });
    const scraped = new Scrape(await metrics.scrape());
    expect(scraped.sum('events_outbox_oldest_unpublished_age_seconds')).toBe(90);
    expect(scraped.has('events_bus_up')).toBe(false);
  });

  it('leave out what does not answer in time, and the scrape still answers', async () => {
    const metrics = new Metrics();
    const never = new Promise<never>(() => {});
    const hangingBus: Pick<EventBus, 'stats'> = { stats: () => never };
    registerEventMetrics({
      metrics,
      bus: hangingBus,
      consumed: [{ stream: 'orders', group: 'inventory' }],
      outboxAge: () => never,
      timeoutMs: 20,
    });
    const scraped = new Scrape(await metrics.scrape());
    expect(scraped.sum('events_bus_up')).toBe(0);
    expect(scraped.has('events_stream_length')).toBe(false);
    expect(scraped.has('events_consumer_lag')).toBe(false);
    expect(scraped.sum('events_outbox_oldest_unpublished_age_seconds')).toBeNaN();
  });
});
