import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { freePorts } from '../../test/support/processes.ts';
import { scrape } from '../../test/support/metrics.ts';
import { startTestRouter } from '../../test/support/shop-graph.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { until } from '../../test/support/until.ts';
import type { RouterSettings, RunningRouter } from '../src/router.ts';
import type { SubgraphPolicy } from '../src/subgraph-fetch/resilience.ts';

/**
 * A subgraph that hangs, refuses, fails or resets costs a request only its
 * own fields: the router answers with the rest of the data and a coded
 * error that in production names neither the subgraph nor its address (the
 * log does); it retries queries
 * (never mutations) on failures worth retrying, and its circuit breaker
 * stops sending to a subgraph that keeps failing until a trial succeeds.
 * Each subgraph sits behind a proxy that counts what reaches it and
 * injects the faults.
 */

const catalogSdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Item @key(fields: "id") {
    id: ID!
    name: String!
  }
  type Query {
    featured: [Item!]!
    broken: [Item!]!
  }
  type Mutation {
    bump(id: ID!): Item
  }
`;

const stockSdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Item @key(fields: "id") {
    id: ID!
    "Units on hand; item 'broken' has none to tell."
    stock: Int
  }
`;

type Fault = { status: number } | 'hang' | 'reset';

/**
 * A proxy in front of a subgraph: it counts the GraphQL requests that reach
 * it and answers the next ones with a fault (a status, no answer at all, or
 * a reset connection) instead of forwarding them.
 */
class FaultProxy {
  url = '';
  /** GraphQL requests that reached the subgraph's door, faulted or not. */
  requests = 0;
  /** Called for every request, as it arrives. */
  onRequest: () => void = () => {};
  private fault: Fault | null = null;
  private faultsLeft = 0;
  private readonly held = new Set<ServerResponse>();
  private readonly server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => this.answer(incoming, outgoing, Buffer.concat(chunks)));
  });

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/graphql`;
    return this;
  }

  /** The next `times` requests meet `fault`. */
  fail(fault: Fault, times = Number.POSITIVE_INFINITY) {
    this.fault = fault;
    this.faultsLeft = times;
  }

  heal() {
    this.fault = null;
    this.faultsLeft = 0;
    for (const response of this.held) response.destroy();
    this.held.clear();
  }

  async stop() {
    this.heal();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(incoming: IncomingMessage, outgoing: ServerResponse, body: Buffer) {
    this.requests++;
    this.onRequest();
    const fault = this.faultsLeft > 0 ? this.fault : null;
    if (fault) this.faultsLeft--;
    if (fault === 'hang') return void this.held.add(outgoing);
    if (fault === 'reset') return void incoming.socket.destroy();
    if (fault) return void outgoing.writeHead(fault.status, { 'content-type': 'text/plain' }).end('unavailable');
    this.forward(outgoing, body).catch(() => outgoing.destroy());
  }

  private async forward(outgoing: ServerResponse, body: Buffer) {
    const answer = await fetch(this.target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
    });
    const headers: Record<string, string> = { 'content-type': answer.headers.get('content-type') ?? 'text/plain' };
    const cacheControl = answer.headers.get('cache-control');
    if (cacheControl) headers['cache-control'] = cacheControl;
    outgoing.writeHead(answer.status, headers).end(Buffer.from(await answer.arrayBuffer()));
  }
}

let catalog: TestSubgraph;
let stock: TestSubgraph;
let catalogProxy: FaultProxy;
let stockProxy: FaultProxy;
let workdir: string;
let supergraphPath: string;
let router: RunningRouter | null = null;

beforeAll(async () => {
  catalog = await startTestSubgraph('catalog', catalogSdl, {
    Query: {
      featured: () => ['1', '2'].map((id) => ({ id, name: `Item ${id}` })),
      broken: () => [{ id: 'broken', name: 'Item broken' }],
    },
    Mutation: { bump: (_: unknown, { id }: { id: string }) => ({ id, name: `Item ${id}` }) },
  });
  stock = await startTestSubgraph('stock', stockSdl, {
    Item: {
      __resolveReference: (reference: { id: string }) => reference,
      stock: ({ id }: { id: string }) => {
        if (id === 'broken') throw new Error('stock is unknown for this item');
        return Number(id) * 10;
      },
    },
  });
  [catalogProxy, stockProxy] = await Promise.all([
    new FaultProxy(catalog.url).start(),
    new FaultProxy(stock.url).start(),
  ]);
  const outcome = composeSupergraph([
    { name: 'catalog', url: catalogProxy.url, sdl: catalogSdl },
    { name: 'stock', url: stockProxy.url, sdl: stockSdl },
  ]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'subgraph-resilience-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, outcome.supergraphSdl);
});

afterEach(async () => {
  await router?.stop();
  router = null;
  for (const proxy of [catalogProxy, stockProxy]) {
    proxy.heal();
    proxy.requests = 0;
    proxy.onRequest = () => {};
  }
});

afterAll(async () => {
  await Promise.allSettled([catalogProxy?.stop(), stockProxy?.stop(), catalog?.stop(), stock?.stop()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

/** Short deadlines, quick retries, and a breaker that stays out of the way unless a test asks for it. */
const testPolicy: Partial<SubgraphPolicy> = { timeoutMs: 500, retryDelayMs: 5, breakerMinRequests: 1_000 };

async function start(policy: Partial<SubgraphPolicy> = {}, settings: Partial<RouterSettings> = {}, logger?: Logger) {
  router = await startTestRouter(
    supergraphPath,
    {
      nodeEnv: 'production',
      // Counting subgraph requests needs every request to reach them.
      responseCache: { enabled: false },
      subgraphPolicy: { all: { ...testPolicy, ...policy } },
      ...settings,
    },
    logger,
  );
  return router;
}

async function post(query: string) {
  const response = await fetch(router!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** Nothing of where a subgraph lives may reach a client. */
function expectNoAddress(body: unknown, ...urls: string[]) {
  const text = JSON.stringify(body);
  expect(text).not.toContain('127.0.0.1');
  expect(text).not.toMatch(/stacktrace|ECONNREFUSED|ECONNRESET/);
  for (const url of urls) expect(text).not.toContain(new URL(url).port);
}

const featuredWithStock = '{ featured { id name stock } }';
const featuredWithoutStock = [
  { id: '1', name: 'Item 1', stock: null },
  { id: '2', name: 'Item 2', stock: null },
];

describe('a subgraph that does not answer in time', () => {
  it('costs only its own fields: SUBGRAPH_TIMEOUT, and no second try', async () => {
    await start();
    stockProxy.fail('hang');
    const response = await post(featuredWithStock);

    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ featured: featuredWithoutStock });
    expect(response.body.errors).toEqual([
      {
        message: 'Part of this response did not arrive in time. Try again shortly.',
        extensions: { code: 'SUBGRAPH_TIMEOUT' },
      },
    ]);
    expectNoAddress(response.body, stockProxy.url);
    // The timeout spent the fetch's whole budget: retrying would only double the wait.
    expect(stockProxy.requests).toBe(1);
  });
});

describe('a subgraph that refuses connections', () => {
  it('costs only its own fields: SUBGRAPH_UNAVAILABLE, and its address only in the log', async () => {
    const [port] = await freePorts(1);
    const deadUrl = `http://127.0.0.1:${port}/graphql`;
    const logLines: Array<Record<string, any>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
    await start({}, { subgraphUrls: { STOCK: deadUrl } }, logger);
    const response = await post(featuredWithStock);

    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ featured: featuredWithoutStock });
    expect(response.body.errors).toEqual([
      {
        message: 'Part of this response is unavailable. Try again shortly.',
        extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
      },
    ]);
    expectNoAddress(response.body, deadUrl);
    // What the operator needs, under the id the client was given.
    const logged = logLines.filter((line) => line.msg === 'request failed');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ requestId: response.body.extensions.requestId });
    expect(logged[0]!.err.message).toContain(deadUrl);
  });
});

describe('retries', () => {
  it('send a query again after a 503, and the client never knows', async () => {
    await start();
    stockProxy.fail({ status: 503 }, 1);
    const response = await post(featuredWithStock);

    expect(response.body).toEqual({
      data: {
        featured: [
          { id: '1', name: 'Item 1', stock: 10 },
          { id: '2', name: 'Item 2', stock: 20 },
        ],
      },
    });
    expect(stockProxy.requests).toBe(2);
  });

  it('send a query again after a reset connection', async () => {
    await start();
    stockProxy.fail('reset', 1);
    const response = await post(featuredWithStock);

    expect(response.body.errors).toBeUndefined();
    expect(stockProxy.requests).toBe(2);
  });

  it('stop after two, then the query gets SUBGRAPH_UNAVAILABLE', async () => {
    await start();
    stockProxy.fail({ status: 503 });
    const response = await post(featuredWithStock);

    expect(response.body.data).toEqual({ featured: featuredWithoutStock });
    expect(response.body.errors).toEqual([
      {
        message: 'Part of this response is unavailable. Try again shortly.',
        extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
      },
    ]);
    expect(stockProxy.requests).toBe(3);
  });

  it('report a merged fetch that fails once, not once for each of its parts', async () => {
    await start();
    stockProxy.fail({ status: 503 });
    const response = await post('{ featured { id stock } broken { id stock } }');

    expect(response.body.data).toEqual({
      featured: [
        { id: '1', stock: null },
        { id: '2', stock: null },
      ],
      broken: [{ id: 'broken', stock: null }],
    });
    expect(response.body.errors).toEqual([
      {
        message: 'Part of this response is unavailable. Try again shortly.',
        extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
      },
    ]);
    // Both entity fetches went as one request, tried three times.
    expect(stockProxy.requests).toBe(3);
  });

  it.each([
    { fault: { status: 503 } as Fault, case: 'a 503' },
    { fault: 'reset' as Fault, case: 'a reset connection, after which it may have been applied' },
  ])('never send a mutation twice, even after $case', async ({ fault }) => {
    await start();
    catalogProxy.fail(fault);
    const response = await post('mutation { bump(id: "1") { id name } }');

    expect(response.body.data).toEqual({ bump: null });
    expect(response.body.errors).toEqual([
      {
        message: 'Part of this response is unavailable. Try again shortly.',
        path: ['bump'],
        extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
      },
    ]);
    expect(catalogProxy.requests).toBe(1);
  });

  it('never follow a GraphQL response with errors: the subgraph answered', async () => {
    await start();
    const response = await post('{ broken { id stock } }');

    expect(response.body.data).toEqual({ broken: [{ id: 'broken', stock: null }] });
    expect(response.body.errors).toEqual([
      { message: 'Internal server error', path: ['broken', 0, 'stock'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
    expect(stockProxy.requests).toBe(1);
  });
});

describe('the circuit breaker', () => {
  it('opens after failures, fails fast without sending, then closes once the subgraph recovers', async () => {
    // One timeline of what reached the subgraph and what the breaker said, in the order it happened.
    const timeline: string[] = [];
    const logger = pino(
      { level: 'info' },
      {
        write(line: string) {
          const { msg } = JSON.parse(line) as { msg: string };
          if (msg.startsWith('subgraph circuit')) timeline.push(msg.split(':')[0]!);
        },
      },
    );
    stockProxy.onRequest = () => timeline.push('request');
    await start({ retries: 0, breakerMinRequests: 4, breakerErrorPercent: 50, breakerResetMs: 300 }, {}, logger);
    stockProxy.fail({ status: 503 });

    for (let sent = 0; sent < 4; sent++) {
      const response = await post(featuredWithStock);
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'SUBGRAPH_UNAVAILABLE' });
    }
    expect(timeline).toEqual(['request', 'request', 'request', 'request', 'subgraph circuit opened']);
    expect((await scrape(router!)).sum('router_subgraph_circuit_open', { subgraph: 'stock' })).toBe(1);

    // Open: answered at once, with the rest of the data, and nothing sent.
    for (let sent = 0; sent < 5; sent++) {
      const response = await post(featuredWithStock);
      expect(response.body.data).toEqual({ featured: featuredWithoutStock });
      expect(response.body.errors).toEqual([
        {
          message: 'Part of this response is unavailable. Try again shortly.',
          extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
        },
      ]);
    }

    stockProxy.heal();
    await until(async () => (await post(featuredWithStock)).body.errors === undefined, {
      what: 'the breaker letting a trial through and closing',
    });
    expect((await post(featuredWithStock)).body.errors).toBeUndefined();

    // While open, nothing reached the subgraph: every request came before it opened or as a trial after half-open.
    let open = false;
    for (const event of timeline) {
      if (event === 'subgraph circuit opened') open = true;
      else if (event === 'subgraph circuit half-open') open = false;
      else expect(open && event === 'request').toBe(false);
    }
    expect(timeline.at(-2)).toBe('subgraph circuit closed');
    const metrics = await scrape(router!);
    expect(metrics.sum('router_subgraph_circuit_open', { subgraph: 'stock' })).toBe(0);
    // Of the five sent while open, at most one can have been a trial.
    expect(
      metrics.sum('router_subgraph_fetch_errors_total', { subgraph: 'stock', reason: 'circuit_open' }),
    ).toBeGreaterThanOrEqual(4);
  });
});
