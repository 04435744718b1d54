import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envPrefix } from '../platform/src/config.ts';
import { seedProduct, seedStockLevel, seedUser } from '../seed/world.ts';
import { subgraphs } from '../subgraphs/registry.ts';
import { freePorts, runScript, type ServiceProcess } from './support/processes.ts';
import { postGraphQL } from './support/shop-graph.ts';

/**
 * `npm start` as a newcomer runs it: no database URLs, so every subgraph
 * uses its embedded PGlite database in DATA_DIR. It must migrate and seed
 * on the first run, serve a query that crosses all five subgraphs, and find
 * the same data after a restart without seeding again. With no Redis either,
 * its subgraphs must still exchange events: an order placed is confirmed.
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
const startTimeoutMs = 180_000;

/** A token minted the way a developer does, `npm run token`, against the secrets `npm start` made up. */
async function signedInAsFirstUser(): Promise<Record<string, string>> {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', 'tsx', 'scripts/token.ts', '--seed-user', '0'],
    { env: { ...process.env, ...env } },
  );
  return { authorization: `Bearer ${stdout.trim()}` };
}

async function startGraph(): Promise<ServiceProcess> {
  const graph = runScript('scripts/start.ts', [], env);
  await graph.waitFor((output) => output.includes('Shop graph is up'), startTimeoutMs);
  return graph;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'npm-start-'));
  const [routerPort, ...ports] = await freePorts(subgraphs.length + 1);
  env = {
    ...noDatabaseUrls,
    DATA_DIR: dataDir,
    ROUTER_PORT: String(routerPort),
    LOG_LEVEL: 'info',
    ...Object.fromEntries(subgraphs.map(({ name }, index) => [`${envPrefix(name)}_PORT`, String(ports[index])])),
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
      try {
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
      } finally {
        expect(await graph.stop('SIGINT')).toBe(0);
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
        expect(await graph.stop('SIGINT')).toBe(0);
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
        expect(await graph.stop('SIGINT')).toBe(0);
      }
    },
    startTimeoutMs + 60_000,
  );
});
