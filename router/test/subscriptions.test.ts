import { EventEmitter, on } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { SignJWT } from 'jose';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { close, createHttpService, listen } from '../../platform/src/http/server.ts';
import { createIdentityVerifier } from '../../platform/src/identity.ts';
import { serveSubscriptions } from '../../platform/src/subgraph/subscriptions.ts';
import type { RunningRouter } from '../src/router.ts';
import { startTestRouter, testLogger } from '../../test/support/shop-graph.ts';
import { multipartPayloads } from '../../test/support/multipart.ts';
import { signTestToken, testIdentitySecret, testJwtSecret } from '../../test/support/tokens.ts';
import { scrape } from '../../test/support/metrics.ts';
import { until } from '../../test/support/until.ts';

/**
 * Federated subscriptions through the router over graphql-ws, on two small
 * subgraphs in process: `feed` owns the subscription and sends positioned
 * events (a stream the test appends to), `catalog` owns the products the
 * events name. Each event reaches the client completed from `catalog`,
 * with its position; the identity the router signs reaches `feed`; when
 * `feed`'s connections drop, the router resumes after the last position
 * with nothing missed and nothing twice.
 */

const federation = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.8", import: ["@key"])`;
const feedSdl = `${federation}
  type Query { _feed: Boolean }
  type Subscription { priceChanged(minimum: Int): PriceChange! }
  type PriceChange { cents: Int! viewer: String product: Product! }
  type Product @key(fields: "id", resolvable: false) { id: ID! }`;
const catalogSdl = `${federation}
  type Query { product(id: ID!): Product }
  type Product @key(fields: "id") { id: ID! name: String! }`;

interface Entry {
  position: string;
  productId: string;
  cents: number;
}

/** The feed's event stream: appended to by the test, read from a position by each subscription. */
const stream: Entry[] = [];
const appended = new EventEmitter();
const append = (productId: string, cents: number) => {
  const entry = { position: `${stream.length + 1}-0`, productId, cents };
  stream.push(entry);
  appended.emit('entry');
  return entry;
};

async function* entriesAfter(after: string | null, signal: AbortSignal) {
  let next = after === null ? stream.length : stream.findIndex((entry) => entry.position === after) + 1;
  const waits = on(appended, 'entry', { signal });
  try {
    for (;;) {
      while (next < stream.length) yield stream[next++]!;
      await waits.next();
    }
  } finally {
    await waits.return?.();
  }
}

let stopFeed: () => Promise<void>;
let stopCatalog: () => Promise<void>;
let router: RunningRouter;
let workdir: string;
/** What the supergraph is composed of: composed again, changed, for a reload. */
let composedOf: Array<{ name: string; url: string; sdl: string }>;
const seenViewers: Array<string | null> = [];

async function startSubgraph(
  name: string,
  sdl: string,
  resolvers: Record<string, unknown>,
  subscriptions: boolean,
  port = 0,
) {
  const schema = buildSubgraphSchema({ typeDefs: parse(sdl), resolvers: resolvers as never });
  const apollo = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  await apollo.start();
  const server = createHttpService({
    logger: testLogger(name),
    graphql: (httpGraphQLRequest) =>
      apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({}) }),
    readiness: async () => ({}),
  });
  const served = subscriptions
    ? serveSubscriptions({
        server,
        path: '/graphql',
        schema,
        identity: await createIdentityVerifier(testIdentitySecret),
        production: false,
        logger: testLogger(name),
        contextFor: (viewer, subscription) => ({ viewer, subscription }),
      })
    : null;
  const { url, port: listeningOn } = await listen(server, port, '127.0.0.1');
  return {
    url: `${url}/graphql`,
    port: listeningOn,
    served,
    stop: async () => {
      await served?.close();
      await close(server);
      await apollo.stop();
    },
  };
}

const feedResolvers = {
  Subscription: {
    priceChanged: {
      subscribe: (
        _: unknown,
        { minimum }: { minimum?: number },
        context: { viewer: { id: string } | null; subscription: { resumeAfter: string | null } },
      ) => {
        seenViewers.push(context.viewer?.id ?? null);
        const signal = new AbortController();
        const entries = entriesAfter(context.subscription.resumeAfter, signal.signal);
        return (async function* () {
          try {
            for await (const entry of entries)
              if (entry.cents >= (minimum ?? 0)) yield { ...entry, viewer: context.viewer?.id ?? null };
          } finally {
            signal.abort();
          }
        })();
      },
      resolve: (entry: Entry & { viewer: string | null }) => ({
        cents: entry.cents,
        viewer: entry.viewer,
        product: { id: entry.productId },
      }),
    },
  },
};
let feedPort = 0;
let feedServed: { readonly active: number };

/** The feed subgraph, on the port of the one before it when it is restarted (as a new instance behind one address). */
async function startFeed() {
  const feed = await startSubgraph('feed', feedSdl, feedResolvers, true, feedPort);
  feedPort = feed.port;
  feedServed = feed.served!;

  stopFeed = feed.stop;
  return feed;
}

beforeAll(async () => {
  const feed = await startFeed();
  const names: Record<string, string> = { p1: 'Kettle', p2: 'Lamp' };
  const catalog = await startSubgraph(
    'catalog',
    catalogSdl,
    {
      Product: {
        __resolveReference: ({ id }: { id: string }) => {
          // An internal failure whose words must never reach a client in production.
          if (id === 'broken') throw new Error('catalog row lock timeout on host db-7');
          return { id, name: names[id] ?? `Product ${id}` };
        },
      },
    },
    false,
  );
  stopCatalog = catalog.stop;
  composedOf = [
    { name: 'feed', url: feed.url, sdl: feedSdl },
    { name: 'catalog', url: catalog.url, sdl: catalogSdl },
  ];
  workdir = await mkdtemp(join(tmpdir(), 'subscriptions-'));
  await writeFile(join(workdir, 'supergraph.graphql'), supergraphOf(composedOf));
  router = await startTestRouter(join(workdir, 'supergraph.graphql'));
});

afterAll(async () => {
  await router?.stop();
  await stopFeed?.();
  await stopCatalog?.();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

function supergraphOf(subgraphs: typeof composedOf): string {
  const outcome = composeSupergraph(subgraphs);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  return outcome.supergraphSdl;
}

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map(async (client) => void (await client.dispose())));
});

function connect(connectionParams: Record<string, unknown> = {}): Client {
  const client = createClient({
    url: router.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
  });
  clients.push(client);
  return client;
}

const priceChanges = `subscription ($minimum: Int) { priceChanged(minimum: $minimum) { cents viewer product { id name } } }`;

/** Collects a subscription's results as they come. */
function collect(client: Client, query: string, variables: Record<string, unknown> = {}, extensions = {}) {
  const received: Array<{ data?: any; errors?: any[]; extensions?: any }> = [];
  let ended: unknown = null;
  const stop = client.subscribe(
    { query, variables, extensions },
    {
      next: (result) => void received.push(result as (typeof received)[number]),
      error: (error) => void (ended = error ?? 'error'),
      complete: () => void (ended ??= 'complete'),
    },
  );
  return { received, stop, ended: () => ended };
}

describe('subscriptions through the router (graphql-ws)', () => {
  it('delivers each event completed from the other subgraph, with its stream position', async () => {
    const subscribed = seenViewers.length;
    const { received } = collect(connect(), priceChanges, { minimum: 100 });
    await until(() => seenViewers.length > subscribed, { what: 'the subscription to reach the feed' });
    append('p1', 150);
    append('p2', 50); // below the minimum: filtered by the subgraph
    const last = append('p2', 300);
    await until(() => received.length === 2, { what: 'two events' });
    expect(received.map(({ data }) => data)).toEqual([
      { priceChanged: { cents: 150, viewer: null, product: { id: 'p1', name: 'Kettle' } } },
      { priceChanged: { cents: 300, viewer: null, product: { id: 'p2', name: 'Lamp' } } },
    ]);
    expect(received.at(-1)!.extensions).toEqual({ position: last.position });
  });

  it('forwards the signed-in caller to the subgraph that owns the subscription, never their token', async () => {
    const token = await signTestToken(testJwtSecret, 'shopper-7');
    const { received } = collect(connect({ authorization: `Bearer ${token}` }), priceChanges);
    await until(() => seenViewers.at(-1) === 'shopper-7', { what: 'the feed to see the caller' });
    append('p1', 120);
    await until(() => received.length === 1, { what: 'one event' });
    expect(received[0]!.data.priceChanged.viewer).toBe('shopper-7');
  });

  it('refuses a bad token and an invalid operation with coded errors, before any subgraph is asked', async () => {
    const before = seenViewers.length;
    const refused = collect(connect({ authorization: 'Bearer not-a-token' }), priceChanges);
    const invalid = collect(connect(), 'subscription { priceChanged { nope } }');
    await until(() => refused.ended() !== null && invalid.ended() !== null, { what: 'both refusals' });
    expect((refused.ended() as Array<{ extensions: { code: string } }>)[0]!.extensions.code).toBe('UNAUTHENTICATED');
    expect((invalid.ended() as Array<{ extensions: { code: string } }>)[0]!.extensions.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    expect(seenViewers.length).toBe(before);
  });

  it('resumes after the last position when the connection to the subgraph drops: nothing missed, nothing twice', async () => {
    const subscribed = seenViewers.length;
    const { received } = collect(connect(), priceChanges);
    await until(() => seenViewers.length > subscribed, { what: 'the subscription to reach the feed' });
    append('p1', 1);
    await until(() => received.length === 1, { what: 'the first event' });
    const resumedBefore = seenViewers.length;
    // The feed instance stops (its connections close with 1001) and another takes its address.
    await stopFeed();
    append('p1', 2);
    append('p2', 3);
    await startFeed();
    await until(() => received.length === 3, { what: 'the events published while disconnected', timeoutMs: 30_000 });
    expect(seenViewers.length).toBeGreaterThan(resumedBefore);
    expect(received.map(({ data }) => data.priceChanged.cents)).toEqual([1, 2, 3]);
  });

  it("masks an event's errors in production as any response's: coded, with no subgraph's words or name", async () => {
    const production = await startTestRouter(join(workdir, 'supergraph.graphql'), { nodeEnv: 'production' });
    try {
      const client = createClient({
        url: production.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
      });
      clients.push(client);
      const subscribed = seenViewers.length;
      const received: Array<{ data?: any; errors?: any[] }> = [];
      client.subscribe(
        { query: priceChanges },
        {
          next: (result) => void received.push(result as (typeof received)[number]),
          error: (error) => void received.push({ errors: [error] }),
          complete: () => {},
        },
      );
      await until(() => seenViewers.length > subscribed, { what: 'the subscription to reach the feed' });
      append('broken', 99);
      await until(() => received.length === 1, { what: 'the event' });
      const text = JSON.stringify(received[0]);
      expect(received[0]!.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(text).not.toMatch(/lock timeout|db-7|catalog|stacktrace/);
    } finally {
      await production.stop();
    }
  });

  it("refuses a signed-in caller's subscriptions past its limit with RATE_LIMITED, and counts them", async () => {
    const limited = await startTestRouter(join(workdir, 'supergraph.graphql'), {
      subscriptionLimits: { perCaller: 2 },
    });
    try {
      const token = await signTestToken(testJwtSecret, 'shopper-limited');
      const client = createClient({
        url: limited.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${token}` },
      });
      clients.push(client);
      const outcomes: unknown[] = [];
      const subscribed = seenViewers.length;
      for (let index = 0; index < 3; index++)
        client.subscribe(
          { query: priceChanges },
          { next: () => {}, error: (error) => void outcomes.push(error), complete: () => {} },
        );
      await until(() => outcomes.length === 1 && seenViewers.length >= subscribed + 1, {
        what: 'two subscriptions open and one refused',
      });
      // The caller's two identical subscriptions share one on the subgraph (executor/subscription-fan-out.ts).
      expect(seenViewers.length).toBe(subscribed + 1);
      expect((outcomes[0] as Array<{ extensions: { code: string } }>)[0]!.extensions.code).toBe('RATE_LIMITED');
      const metrics = await (await fetch(limited.metricsUrl!)).text();
      expect(metrics).toMatch(/router_subscriptions_active\{field="priceChanged",protocol="graphql-ws"\} 2/);
      expect(metrics).toMatch(/router_subscriptions_closed_total\{reason="limit"\} 1/);
    } finally {
      await limited.stop();
    }
  });

  it('shares one subgraph subscription among identical anonymous ones, never across signed-in callers', async () => {
    const before = feedServed.active;
    const activeAtRouter = async () => {
      const metrics = await (await fetch(router.metricsUrl!)).text();
      return Number(
        /router_subscriptions_active\{field="priceChanged",protocol="graphql-ws"\} (\d+)/.exec(metrics)?.[1] ?? 0,
      );
    };
    const routerBefore = await activeAtRouter();
    const first = collect(connect(), priceChanges, { minimum: 7 });
    const second = collect(connect(), priceChanges, { minimum: 7 });
    const shoppers = await Promise.all(
      ['shopper-a', 'shopper-b'].map(async (id) => {
        const token = await signTestToken(testJwtSecret, id);
        return collect(connect({ authorization: `Bearer ${token}` }), priceChanges, { minimum: 7 });
      }),
    );
    await until(async () => (await activeAtRouter()) === routerBefore + 4 && feedServed.active === before + 3, {
      what: 'four subscriptions at the router, three on the feed',
    });
    append('p1', 10);
    const everyone = [first, second, ...shoppers];
    await until(() => everyone.every(({ received }) => received.length === 1), {
      what: 'the event at every subscriber',
    });
    expect(everyone.map(({ received }) => received[0]!.data.priceChanged.viewer)).toEqual([
      null,
      null,
      'shopper-a',
      'shopper-b',
    ]);
    expect(first.received[0]).toEqual(second.received[0]);
    // One leaves; the one it shared with keeps its stream, and the feed its subscription.
    first.stop();
    await until(async () => (await activeAtRouter()) === routerBefore + 3, { what: 'the first to leave' });
    append('p2', 20);
    await until(() => second.received.length === 2, { what: 'the next event at the one who stayed' });
    expect(second.received[1]!.data.priceChanged).toEqual({
      cents: 20,
      viewer: null,
      product: { id: 'p2', name: 'Lamp' },
    });
    expect(first.received).toHaveLength(1);
    expect(feedServed.active).toBe(before + 3);
    second.stop();
    await until(() => feedServed.active === before + 2, { what: 'the shared subscription closed on the feed' });
    for (const shopper of shoppers) shopper.stop();
    await until(() => feedServed.active === before, { what: "the shoppers' subscriptions closed on the feed" });
  });

  it("ends the subgraph's subscription as soon as the client leaves, without waiting for another event", async () => {
    const before = feedServed.active;
    const client = connect();
    collect(client, priceChanges);
    await until(() => feedServed.active === before + 1, { what: 'the subscription open on the feed' });
    await client.dispose();
    await until(() => feedServed.active === before, { what: 'the subscription closed on the feed' });
  });

  it('answers a subscription sent as a plain POST with a coded client error', async () => {
    const response = await fetch(router.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: priceChanges }),
    });
    const body = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(response.status).toBe(400);
    expect(body.errors[0]!.extensions.code).toBe('BAD_REQUEST');
  });
});

/** Reads an SSE response's events as they arrive: each with its `id` and parsed `data`. */
async function* sseEvents(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (value) buffered += decoder.decode(value, { stream: true });
    for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const fields = Object.fromEntries(
        block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
      );
      // A block of comments alone (`:`) keeps the connection alive and is no event.
      if (fields.event)
        yield { event: fields.event, id: fields.id, data: fields.data ? JSON.parse(fields.data) : null };
    }
    if (done) return;
  }
}

describe('subscriptions through the router (Server-Sent Events)', () => {
  const subscribeOverSse = (headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(router.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
      body: JSON.stringify({ query: priceChanges }),
      ...(signal ? { signal } : {}),
    });

  it('streams completed events with their positions as SSE ids, and resumes after Last-Event-ID', async () => {
    const leaving = new AbortController();
    let subscribed = seenViewers.length;
    const response = await subscribeOverSse({}, leaving.signal);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = sseEvents(response);
    await until(() => seenViewers.length > subscribed, { what: 'the subscription to reach the feed' });
    const first = append('p1', 10);
    const event = (await events.next()).value!;
    expect(event).toEqual({
      event: 'next',
      id: first.position,
      data: {
        data: { priceChanged: { cents: 10, viewer: null, product: { id: 'p1', name: 'Kettle' } } },
        extensions: { position: first.position },
      },
    });
    leaving.abort();
    await events.return(undefined).catch(() => undefined);
    // Missed while away; the client comes back with the last id it saw, as EventSource does.
    append('p2', 11);
    append('p1', 12);
    subscribed = seenViewers.length;
    const back = sseEvents(await subscribeOverSse({ 'last-event-id': first.position }));
    const replayed = [(await back.next()).value!, (await back.next()).value!];
    expect(replayed.map(({ data }) => data.data.priceChanged.cents)).toEqual([11, 12]);
    expect(seenViewers.length).toBeGreaterThan(subscribed);
    await back.return(undefined);
  });

  it('ends a stream when the token it was authorized with expires, with UNAUTHENTICATED', async () => {
    const shortLived = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('shopper-brief')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3)
      .sign(new TextEncoder().encode(testJwtSecret));
    const events = sseEvents(await subscribeOverSse({ authorization: `Bearer ${shortLived}` }));
    const received = [];
    for await (const event of events) received.push(event);
    expect(received.at(-2)?.data.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(received.at(-1)?.event).toBe('complete');
  });

  it("keeps a shopper's shared subscription going for their other connection when the one that opened it expires", async () => {
    // The first connection opens the upstream with a token about to expire; the second, long-lived, joins it.
    const shortLived = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('shopper-twice')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3)
      .sign(new TextEncoder().encode(testJwtSecret));
    const longLived = await signTestToken(testJwtSecret, 'shopper-twice');
    const before = feedServed.active;
    const activeAtRouter = async () =>
      (await scrape({ metricsUrl: router.metricsUrl })).sum('router_subscriptions_active', { field: 'priceChanged' });
    const routerBefore = await activeAtRouter();
    const brief = collect(connect({ authorization: `Bearer ${shortLived}` }), priceChanges, { minimum: 11 });
    await until(() => feedServed.active === before + 1, { what: 'the upstream on the feed' });
    const lasting = collect(connect({ authorization: `Bearer ${longLived}` }), priceChanges, { minimum: 11 });
    await until(async () => (await activeAtRouter()) === routerBefore + 2, {
      what: 'both subscriptions at the router',
    });
    append('p1', 11);
    await until(() => brief.received.length === 1 && lasting.received.length === 1, {
      what: 'the first event at both',
    });
    expect(feedServed.active).toBe(before + 1);

    await until(() => brief.ended() !== null, { what: 'the brief token to expire', timeoutMs: 15_000 });
    append('p2', 12);
    await until(() => lasting.received.length === 2, { what: 'the next event at the connection that stayed' });
    expect(lasting.received[1]!.data.priceChanged).toEqual({
      cents: 12,
      viewer: 'shopper-twice',
      product: { id: 'p2', name: 'Lamp' },
    });
    expect(brief.received).toHaveLength(1);
    lasting.stop();
    await until(() => feedServed.active === before, { what: 'the shared subscription closed on the feed' });
  });

  it('streams through the graphql-sse client, signed in', async () => {
    const token = await signTestToken(testJwtSecret, 'shopper-9');
    const client = createSseClient({
      url: router.url,
      headers: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    const subscribed = seenViewers.length;
    const results = client.iterate({ query: priceChanges });
    const next = results.next();
    await until(() => seenViewers.length > subscribed, { what: 'the subscription to reach the feed' });
    append('p2', 42);
    const { value } = await next;
    expect(value!.data).toEqual({
      priceChanged: { cents: 42, viewer: 'shopper-9', product: { id: 'p2', name: 'Lamp' } },
    });
    await results.return?.(undefined);
    client.dispose();
  });
});

describe('subscriptions across a supergraph reload', () => {
  /**
   * A router of its own, on a supergraph file of its own that `reload`
   * rewrites with a compatible change (a description more), so a new
   * version is built and the one the subscriptions were opened on retired.
   */
  async function startReloadingRouter() {
    const directory = await mkdtemp(join(workdir, 'reload-'));
    const supergraphPath = join(directory, 'supergraph.graphql');
    await writeFile(supergraphPath, supergraphOf(composedOf));
    const reloading = await startTestRouter(supergraphPath);
    return {
      router: reloading,
      async reload(description: string) {
        const described = composedOf.map((subgraph) =>
          subgraph.name === 'feed'
            ? { ...subgraph, sdl: subgraph.sdl.replace('type PriceChange', `"${description}" type PriceChange`) }
            : subgraph,
        );
        await writeFile(supergraphPath, supergraphOf(described));
        expect(await reloading.reload()).toMatchObject({ status: 'reloaded' });
      },
    };
  }

  it('ends graphql-ws subscriptions with 1012; the client resumes on the new version with nothing missed or twice', async () => {
    const { router: reloading, reload } = await startReloadingRouter();
    try {
      const before = feedServed.active;
      const closes: number[] = [];
      const client = createClient({
        url: reloading.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 5,
        retryWait: () => new Promise((resolve) => setTimeout(resolve, 100)),
        on: { closed: (event) => void closes.push((event as { code: number }).code) },
      });
      clients.push(client);
      // graphql-ws sends the payload it was given again when it resubscribes after a reconnect:
      // the position kept in it is where the subscription resumes.
      const payload = { query: priceChanges, extensions: {} as { resumeAfter?: string } };
      const received: Array<{ data?: any; errors?: any[]; extensions?: any }> = [];
      let ended: unknown = null;
      client.subscribe(payload, {
        next: (result) => {
          received.push(result as (typeof received)[number]);
          const position = (result.extensions as { position?: string } | undefined)?.position;
          if (position) payload.extensions.resumeAfter = position;
        },
        error: (error) => void (ended = error ?? 'error'),
        complete: () => void (ended = 'complete'),
      });
      await until(() => feedServed.active === before + 1, { what: 'the subscription open on the feed' });
      // A connection with no subscription at the reload: it stays open.
      const bystanderCloses: number[] = [];
      const bystander = createClient({
        url: reloading.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        on: { closed: (event) => void bystanderCloses.push((event as { code: number }).code) },
        // Watched through `closed`; by default it prints the close this router's stop ends it with.
        onNonLazyError: () => {},
      });
      clients.push(bystander);
      append('p1', 1);
      await until(() => received.length === 1, { what: 'the first event' });

      const previousId = reloading.graphId();
      await reload('A change of price.');
      expect(reloading.graphId()).not.toBe(previousId);
      // Appended while the subscription moves: replayed after its last position, or delivered before it ends.
      append('p2', 2);
      append('p1', 3);
      await until(() => closes.includes(1012), { what: 'the connection closed with 1012', timeoutMs: 30_000 });
      await until(() => received.length === 3, { what: 'the events appended across the reload', timeoutMs: 30_000 });

      // Opened on the new version, on the connection that held none: untouched by the retirement.
      // After the last position, so it gets the next event whenever it reaches the feed.
      const onNewVersion = collect(bystander, priceChanges, {}, { resumeAfter: payload.extensions.resumeAfter });
      append('p2', 4);
      await until(() => received.length === 4 && onNewVersion.received.length === 1, {
        what: 'the next event at both',
      });
      expect(received.map(({ data }) => data.priceChanged.cents)).toEqual([1, 2, 3, 4]);
      expect(new Set(received.map(({ extensions }) => extensions.position)).size).toBe(4);
      expect(received.every(({ errors }) => errors === undefined)).toBe(true);
      expect(ended).toBeNull();
      expect(bystanderCloses).toEqual([]);
      expect(onNewVersion.ended()).toBeNull();

      // Nothing of the retired version is left on the feed: once both clients leave, nothing is.
      await client.dispose();
      await bystander.dispose();
      await until(() => feedServed.active === before, { what: 'every subscription closed on the feed' });
    } finally {
      await reloading.stop();
    }
  });

  it('ends an SSE stream without `complete` and a multipart one with SERVICE_RESTART, as a stopping router does', async () => {
    const { router: reloading, reload } = await startReloadingRouter();
    try {
      const before = feedServed.active;
      // Each with a minimum of its own: identical anonymous subscriptions would share one on the feed.
      const subscribe = (accept: string, minimum: number, headers: Record<string, string> = {}) =>
        fetch(reloading.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept, ...headers },
          body: JSON.stringify({ query: priceChanges, variables: { minimum } }),
        });
      /** Reads a stream to its end in the background, so each wait below is bounded by `until`. */
      const readAll = <T>(items: AsyncIterable<T>) => {
        const read: T[] = [];
        const reading = { read, ended: false };
        void (async () => {
          for await (const item of items) read.push(item);
          reading.ended = true;
        })();
        return reading;
      };
      const sse = readAll(sseEvents(await subscribe('text/event-stream', 1)));
      const multipart = readAll(
        multipartPayloads(await subscribe('multipart/mixed;boundary="graphql";subscriptionSpec=1.0', 2)),
      );
      await until(() => feedServed.active === before + 2, { what: 'both subscriptions open on the feed' });
      const first = append('p1', 10);
      const events = () => multipart.read.filter((part) => Object.keys(part).length > 0); // not heartbeats
      await until(() => sse.read.length === 1 && events().length === 1, { what: 'the first event on each' });

      await reload('A price, changed.');
      await until(() => sse.ended && multipart.ended, { what: 'both streams ended', timeoutMs: 30_000 });
      // No `complete`: the client reconnects, with Last-Event-ID, as from a stopping router.
      expect(sse.read.map(({ event }) => event)).toEqual(['next']);
      expect(events().at(-1)).toEqual({
        payload: null,
        errors: [{ message: expect.any(String), extensions: { code: 'SERVICE_RESTART' } }],
      });
      await until(() => feedServed.active === before, { what: 'the retired subscriptions closed on the feed' });

      append('p2', 11);
      const back = readAll(sseEvents(await subscribe('text/event-stream', 1, { 'last-event-id': first.position })));
      await until(() => back.read.length === 1, { what: 'the missed event, on the new version' });
      append('p1', 12);
      await until(() => back.read.length === 2, { what: 'the live event' });
      expect(back.read.map(({ data }) => data.data.priceChanged.cents)).toEqual([11, 12]);
    } finally {
      await reloading.stop();
    }
  });
});
