import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { startTestRouter } from '../../test/support/shop-graph.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { createGate } from '../../test/support/timing-subgraph.ts';
import { signTestToken } from '../../test/support/tokens.ts';
import { until } from '../../test/support/until.ts';
import type { RouterSettings, RunningRouter } from '../src/router.ts';

/**
 * The router's subgraph fetch path, counted at the subgraphs: one merged
 * request per subgraph per plan step, identical in-flight queries sent
 * once per caller, and mutations always sent as they are.
 */

const catalogSdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Item @key(fields: "id") {
    id: ID!
    name: String!
  }
  type Query {
    featured: [Item!]!
    latest: [Item!]!
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

const items = (ids: string[]) => ids.map((id) => ({ id, name: `Item ${id}` }));
const secret = 'a-test-secret-that-is-long-enough-for-hs256';
const stockGate = createGate();
let holdStock = false;

let catalog: TestSubgraph;
let stock: TestSubgraph;
let workdir: string;
let supergraphPath: string;
let router: RunningRouter | null = null;

beforeAll(async () => {
  stockGate.open();
  catalog = await startTestSubgraph('catalog', catalogSdl, {
    Query: { featured: () => items(['1', '2', 'broken']), latest: () => items(['3', '1']) },
    Mutation: { bump: (_: unknown, { id }: { id: string }) => items([id])[0] },
  });
  stock = await startTestSubgraph('stock', stockSdl, {
    Item: {
      __resolveReference: (reference: { id: string }) => reference,
      stock: async ({ id }: { id: string }) => {
        if (holdStock) await stockGate.pass();
        if (id === 'broken') throw new Error('stock is unknown for this item');
        return Number(id) * 10;
      },
    },
  });
  const outcome = composeSupergraph([
    { name: 'catalog', url: catalog.url, sdl: catalogSdl },
    { name: 'stock', url: stock.url, sdl: stockSdl },
  ]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'subgraph-fetch-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, outcome.supergraphSdl);
});

afterEach(async () => {
  await router?.stop();
  router = null;
  holdStock = false;
  stockGate.open();
  catalog.requests.length = 0;
  stock.requests.length = 0;
});

afterAll(async () => {
  await Promise.allSettled([catalog?.stop(), stock?.stop()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

async function start(settings: Partial<RouterSettings> = {}) {
  // Counting subgraph requests needs every request to reach them.
  router = await startTestRouter(supergraphPath, { responseCache: { enabled: false }, ...settings });
  return router;
}

async function post(query: string, headers: Record<string, string> = {}) {
  const response = await fetch(router!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('parallel fetches to one subgraph', () => {
  // The stock executor sends the two fetches apart and SubgraphFetch merges them into one request; the router's
  // own sends them as one `_entities` fetch to begin with.
  it.each([
    { executor: 'stock', entityFields: 2 },
    { executor: 'own', entityFields: 1 },
  ] as const)(
    'go as one request with $executor, and each part gets its own data and errors',
    async ({ executor, entityFields }) => {
      await start({ executor });
      const response = await post('{ featured { id stock } latest { id stock } }');

      expect(response.body.data).toEqual({
        featured: [
          { id: '1', stock: 10 },
          { id: '2', stock: 20 },
          { id: 'broken', stock: null },
        ],
        latest: [
          { id: '3', stock: 30 },
          { id: '1', stock: 10 },
        ],
      });
      expect(response.body.errors).toHaveLength(1);
      expect(response.body.errors[0].path).toEqual(['featured', 2, 'stock']);
      expect(catalog.requests).toHaveLength(1);
      // Two entity fetches in one plan step, one HTTP request to the subgraph.
      expect(stock.requests).toHaveLength(1);
      expect(stock.requests[0]!.query.match(/_entities\(/g)).toHaveLength(entityFields);
    },
  );
});

describe('identical queries in flight at once', () => {
  it('are sent once for anonymous callers, and every caller gets the full answer', async () => {
    await start();
    holdStock = true;
    stockGate.close();
    const responses = Array.from({ length: 10 }, () => post('{ featured { id stock } }'));
    await until(() => stock.requests.length === 1, { what: 'the first stock fetch' });
    // Give every other request time to reach the same fetch and join it.
    await sleep(300);
    expect(stock.requests).toHaveLength(1);
    stockGate.open();
    for (const response of await Promise.all(responses)) {
      expect(response.body.data.featured).toEqual([
        { id: '1', stock: 10 },
        { id: '2', stock: 20 },
        { id: 'broken', stock: null },
      ]);
    }
    expect(stock.requests).toHaveLength(1);
  });

  it('are never shared between different verified callers', async () => {
    await start({ authentication: { keys: { kind: 'secret', secret } } });
    holdStock = true;
    stockGate.close();
    const tokens = await Promise.all(Array.from({ length: 5 }, (_, index) => signTestToken(secret, `user-${index}`)));
    const responses = tokens.map((token) => post('{ featured { id stock } }', { authorization: `Bearer ${token}` }));
    await until(() => stock.requests.length === 5, { what: 'one stock fetch per caller' });
    stockGate.open();
    for (const response of await Promise.all(responses)) expect(response.body.data.featured).toHaveLength(3);
  });
});

describe('mutations', () => {
  it('are sent one by one, even when identical and concurrent', async () => {
    await start();
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => post('mutation { bump(id: "2") { id name } }')),
    );
    for (const response of responses) expect(response.body).toEqual({ data: { bump: { id: '2', name: 'Item 2' } } });
    expect(catalog.requests.filter((request) => request.query.startsWith('mutation'))).toHaveLength(5);
  });
});
