import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envPrefix } from '../platform/src/config.ts';
import { seedProduct, seedStockLevel, seedUser, worldSizes } from '../seed/world.ts';
import { subgraphs } from '../subgraphs/registry.ts';
import { portIsFree, processesWithEnv, signalAndWait } from './support/process-tree.ts';
import { freePorts, runScript, type ServiceProcess } from './support/processes.ts';
import { postGraphQL } from './support/shop-graph.ts';

/**
 * `npm start` as a newcomer runs it: no database URLs, so every subgraph
 * uses its embedded PGlite database in DATA_DIR. It must migrate and seed
 * on the first run, serve a query that crosses all five subgraphs, and find
 * the same data after a restart without seeding again. With no Redis either,
 * its subgraphs must still exchange events: an order placed is confirmed.
 * Throughout, it says what each process is doing, one line per step, and
 * stopped at any moment it leaves no process of its own running.
 */

const execFileAsync = promisify(execFile);

// Within the router's default limits (depth 7), as a frontend's query must be.
const crossGraphQuery = /* GraphQL */ `
  query ($productId: ID!) {
    products(first: 3) {
      edges {
        node {
          name
          price {
            centAmount
          }
          quantity
          inStock
        }
      }
    }
    product(id: $productId) {
      reviews(first: 2) {
        edges {
          node {
            rating
            author {
              name
            }
          }
        }
      }
    }
    viewer {
      name
      orders(first: 2) {
        edges {
          node {
            total {
              centAmount
            }
            items {
              quantity
              product {
                name
              }
            }
          }
        }
      }
    }
  }
`;

const placeOrder = /* GraphQL */ `
  mutation ($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      order {
        id
        status
      }
    }
  }
`;

// The router caches the viewer's orders for 30 s; the OrderConfirmed event purges them, so the
// same query polled again sees the confirmation.
const latestOrderQuery = /* GraphQL */ `
  query LatestOrder {
    viewer {
      orders(first: 1) {
        edges {
          node {
            id
            status
          }
        }
      }
    }
  }
`;

let dataDir: string;
let env: NodeJS.ProcessEnv;
let routerUrl: string;

// The environment of the machine running the tests must not redirect the graph to real databases.
const noDatabaseUrls = Object.fromEntries(subgraphs.map(({ name }) => [`${envPrefix(name)}_DATABASE_URL`, undefined]));

// First start migrates and seeds five embedded databases: minutes on a busy 2-core machine.
const startTimeoutMs = 300_000;
// Each process stops within SHUTDOWN_TIMEOUT_SECONDS (25 s) and `npm start` kills it 5 s later at most.
const stopTimeoutMs = 60_000;
let ports: { router: number; subgraphs: Record<string, number> };

/** A token minted the way a developer does, `npm run token`, against the secrets `npm start` made up. */
async function signedInAsFirstUser(): Promise<Record<string, string>> {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', 'tsx', 'scripts/token.ts', '--seed-user', '0'],
    { env: { ...process.env, ...env } },
  );
  return { authorization: `Bearer ${stdout.trim()}` };
}

/** The index of the first line `npm start` printed as `name`'s step starting with `text`, or -1. */
function stepLine(output: string, name: string, text: string): number {
  return output.split('\n').findIndex((line) => {
    const match = /^\s+(\S+)\s+(.*)$/.exec(line);
    return match?.[1] === name && match[2]!.startsWith(text);
  });
}

/** No process with this DATA_DIR in its environment, and every port the graph used free. */
/** The Node processes among `pids` (tsx's esbuild service runs beside each). */
async function nodeProcesses(pids: number[]): Promise<number[]> {
  const commands = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')));
  return pids.filter((_, index) => commands[index]!.trim() === 'node');
}

async function expectNothingLeft(dir = dataDir): Promise<void> {
  expect(await processesWithEnv('DATA_DIR', dir)).toEqual([]);
  for (const port of [ports.router, ...Object.values(ports.subgraphs)])
    expect(await portIsFree(port), `port ${port}`).toBe(true);
}

/**
 * Stops `npm start` as Ctrl-C does and waits as long as its own bound allows
 * (runScript's stop kills it after 20 s, which would orphan the processes it
 * is still stopping and fail the next test on their locks and ports).
 */
async function stopGraph(graph: ServiceProcess): Promise<number | null | 'still running'> {
  const code = await signalAndWait(graph.child, 'SIGINT', stopTimeoutMs);
  if (code === 'still running') await graph.stop('SIGKILL');
  return code;
}

async function startGraph(): Promise<ServiceProcess> {
  const graph = runScript('scripts/start.ts', [], env);
  try {
    await graph.waitFor((output) => output.includes('Shop graph is up'), startTimeoutMs);
  } catch (error) {
    // Not up in time: stopped here, or it would outlive the test and hold the next one's locks.
    await stopGraph(graph);
    throw error;
  }
  return graph;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'npm-start-'));
  const [routerPort, ...subgraphPorts] = await freePorts(subgraphs.length + 1);
  ports = {
    router: routerPort!,
    subgraphs: Object.fromEntries(subgraphs.map(({ name }, index) => [name, subgraphPorts[index]!])),
  };
  env = {
    ...noDatabaseUrls,
    DATA_DIR: dataDir,
    ROUTER_PORT: String(routerPort),
    LOG_LEVEL: 'info',
    ...Object.fromEntries(
      subgraphs.map(({ name }, index) => [`${envPrefix(name)}_PORT`, String(subgraphPorts[index])]),
    ),
  };
  routerUrl = `http://127.0.0.1:${routerPort}/graphql`;
});

afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm start on embedded databases', () => {
  let firstAnswer: unknown;

  it(
    'migrates, seeds and serves a query across all five subgraphs',
    async () => {
      const graph = await startGraph();
      let stopped = false;
      try {
        // Each subgraph's steps, in order, each on a line of its own, then the router's.
        const output = graph.output();
        for (const { name } of subgraphs) {
          const steps = [
            stepLine(output, name, 'starting'),
            stepLine(output, name, `opening its embedded database in ${join(dataDir, name)}`),
            stepLine(output, name, 'migrating'),
            stepLine(output, name, 'seeding '),
            stepLine(output, name, `ready at http://localhost:${ports.subgraphs[name]}/graphql`),
          ];
          expect(
            steps.every((index) => index >= 0),
            `${name}: ${steps.join(', ')}`,
          ).toBe(true);
          expect(steps, name).toEqual([...steps].sort((a, b) => a - b));
          expect(stepLine(output, 'router', 'starting')).toBeGreaterThan(steps.at(-1)!);
        }
        expect(stepLine(output, 'router', `ready at http://localhost:${ports.router}/graphql`)).toBeGreaterThan(
          stepLine(output, 'router', 'starting'),
        );
        // The seed's counts, table by table.
        expect(output).toMatch(/^\s+reviews\s+seeding reviews: [\d,]+ of [\d,]+$/m);
        // The banner names the folder the data is in.
        expect(output).toContain(`Data persists in ${dataDir} between runs`);

        const seeded = graph.logs().filter((line) => line.msg === 'database is empty; seeding');
        expect(seeded.map((line) => line.service).sort()).toEqual(subgraphs.map(({ name }) => name).sort());

        const response = await postGraphQL<any>(
          routerUrl,
          crossGraphQuery,
          { productId: seedProduct(0).id },
          await signedInAsFirstUser(),
        );
        expect(response.body.errors).toBeUndefined();
        const [product] = response.body.data.products.edges;
        expect(product.node).toMatchObject({ name: expect.any(String), quantity: expect.any(Number) });
        expect(response.body.data.viewer.name).toBe(seedUser(0).name);
        firstAnswer = response.body.data;

        // The whole graph runs in one process beside `npm start`'s own (scripts/dev/graph-host.ts says why).
        expect(await nodeProcesses(await processesWithEnv('DATA_DIR', dataDir))).toHaveLength(2);

        // Stopped once up: every process it started is gone, and their ports are free.
        expect(await signalAndWait(graph.child, 'SIGTERM', stopTimeoutMs)).toBe(0);
        stopped = true;
        await expectNothingLeft();
      } finally {
        if (!stopped) await stopGraph(graph);
      }
    },
    startTimeoutMs + 30_000,
  );

  it(
    'keeps its data across a restart, without seeding again',
    async () => {
      const graph = await startGraph();
      try {
        expect(graph.logs().filter((line) => line.msg === 'database is empty; seeding')).toEqual([]);
        const response = await postGraphQL<any>(
          routerUrl,
          crossGraphQuery,
          { productId: seedProduct(0).id },
          await signedInAsFirstUser(),
        );
        expect(response.body.errors).toBeUndefined();
        expect(response.body.data).toEqual(firstAnswer);
      } finally {
        expect(await stopGraph(graph)).toBe(0);
      }
    },
    startTimeoutMs + 30_000,
  );

  it(
    'confirms an order once inventory has reserved its stock, over the bus it serves its subgraphs',
    async () => {
      const graph = await startGraph();
      try {
        const inStock = Array.from({ length: 50 }, (_, index) => seedStockLevel(index)).find(
          (level) => level.quantity > 0,
        )!;
        const headers = await signedInAsFirstUser();
        const placed = await postGraphQL<any>(
          routerUrl,
          placeOrder,
          { input: { items: [{ productId: inStock.productId, quantity: 1 }], idempotencyKey: randomUUID() } },
          headers,
        );
        expect(placed.body.errors).toBeUndefined();
        const order = placed.body.data.placeOrder.order as { id: string; status: string };
        expect(order.status).toBe('PENDING');

        // orders → OrderPlaced → inventory → StockReserved → orders, each hop through `npm start`'s process.
        let latest: { id: string; status: string } | undefined;
        const deadline = Date.now() + 30_000;
        while (latest?.status !== 'CONFIRMED' && Date.now() < deadline) {
          await sleep(250);
          const response = await postGraphQL<any>(routerUrl, latestOrderQuery, {}, headers);
          expect(response.body.errors).toBeUndefined();
          latest = response.body.data.viewer.orders.edges[0]?.node;
        }
        expect(latest).toEqual({ id: order.id, status: 'CONFIRMED' });
      } finally {
        expect(await stopGraph(graph)).toBe(0);
      }
    },
    startTimeoutMs + 60_000,
  );
});

describe('npm start stopped or misconfigured', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'npm-start-stopped-'));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'stops every process it started when stopped while the subgraphs migrate, before the router exists',
    async () => {
      const graph = runScript('scripts/start.ts', ['--no-watch'], { ...env, DATA_DIR: dir });
      try {
        await graph.waitFor((output) => /^\s+\S+\s+migrating$/m.test(output), startTimeoutMs);
        expect(await signalAndWait(graph.child, 'SIGTERM', stopTimeoutMs)).toBe(0);
        expect(graph.output()).not.toContain('Shop graph is up');
        expect(stepLine(graph.output(), 'router', 'starting')).toBe(-1);
        await expectNothingLeft(dir);
      } finally {
        await stopGraph(graph);
      }
    },
    startTimeoutMs + 2 * stopTimeoutMs,
  );

  it(
    'in production, names the variable each subgraph needs and starts nothing without it',
    async () => {
      const graph = runScript('scripts/start.ts', [], {
        ...env,
        DATA_DIR: dir,
        NODE_ENV: 'production',
        REDIS_URL: undefined,
      });
      const exited = await new Promise<number | null>((resolve) => graph.child.once('exit', resolve));
      expect(exited).toBe(2);
      for (const { name } of subgraphs) {
        expect(
          stepLine(graph.output(), name, `needs its Postgres database: set ${envPrefix(name)}_DATABASE_URL`),
        ).toBeGreaterThan(-1);
      }
      expect(graph.output()).toContain('REDIS_URL is not set');
      expect(await processesWithEnv('DATA_DIR', dir)).toEqual([]);
    },
    startTimeoutMs,
  );

  it(
    'in production, says which database each subgraph waits for and which variable names it, and stops while waiting',
    async () => {
      // Ports nothing listens on: each subgraph waits for its database for as long as it takes.
      const closed = await freePorts(subgraphs.length);
      const graph = runScript('scripts/start.ts', [], {
        ...env,
        DATA_DIR: dir,
        NODE_ENV: 'production',
        ...Object.fromEntries(
          subgraphs.map(({ name }, index) => [
            `${envPrefix(name)}_DATABASE_URL`,
            `postgres://shop:hunter2@127.0.0.1:${closed[index]}/${name}`,
          ]),
        ),
      });
      try {
        const waiting = (name: string, index: number) =>
          `waiting for its database at 127.0.0.1:${closed[index]}/${name} (${envPrefix(name)}_DATABASE_URL)`;
        await graph.waitFor(
          (output) => subgraphs.every(({ name }, index) => stepLine(output, name, waiting(name, index)) >= 0),
          startTimeoutMs,
        );
        expect(graph.output()).not.toContain('hunter2');
        expect(await signalAndWait(graph.child, 'SIGTERM', stopTimeoutMs)).toBe(0);
        await expectNothingLeft(dir);
      } finally {
        await stopGraph(graph);
      }
    },
    startTimeoutMs + 2 * stopTimeoutMs,
  );
});

describe('npm start -- --scale, as the quick start shows it', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'npm-start-scale-'));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'seeds the benchmark-sized shop on its first run, counting as it goes, and serves it',
    async () => {
      const graph = runScript('scripts/start.ts', ['--scale', '--no-watch'], { ...env, DATA_DIR: dir });
      let stopped = false;
      try {
        await graph.waitFor((output) => output.includes('Shop graph is up'), 2 * startTimeoutMs);
        const sizes = worldSizes.scale;
        // The seed says how far it is, and the graph serves the shop it seeded.
        expect(graph.output()).toMatch(
          new RegExp(
            `^\\s+reviews\\s+seeding reviews: [\\d,]+ of ${sizes.reviews.toLocaleString('en-US')} \\(--scale\\)$`,
            'm',
          ),
        );
        const lastProduct = seedProduct(sizes.products - 1).id;
        const response = await postGraphQL<any>(
          routerUrl,
          `{ products(first: 1) { totalCount } product(id: "${lastProduct}") { reviewCount } }`,
        );
        expect(response.body.errors).toBeUndefined();
        expect(response.body.data.products.totalCount).toBe(sizes.products);
        expect(response.body.data.product).not.toBeNull();
        expect(await signalAndWait(graph.child, 'SIGTERM', stopTimeoutMs)).toBe(0);
        stopped = true;
        await expectNothingLeft(dir);
      } finally {
        if (!stopped) await stopGraph(graph);
      }
    },
    2 * startTimeoutMs + 2 * stopTimeoutMs,
  );
});
