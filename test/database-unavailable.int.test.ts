import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchSubgraph, type RunningSubgraph } from '../platform/src/subgraph/server.ts';
import { startRouter, type RunningRouter } from '../router/src/router.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import { loadSubgraph } from '../subgraphs/registry.ts';
import { composeFor, postGraphQL, startSubgraphs, testLogger, type StartedSubgraphs } from './support/shop-graph.ts';

/** A port on loopback that nothing listens on, so connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let healthy: StartedSubgraphs;
let accountsWithoutDatabase: RunningSubgraph;
let router: RunningRouter;
let workdir: string;

beforeAll(async () => {
  healthy = await startSubgraphs('db_down');
  // Launched, not started: a start waits for the database, and this one never comes.
  accountsWithoutDatabase = await launchSubgraph(
    await loadSubgraph('accounts'),
    {
      host: '127.0.0.1',
      port: 0,
      database: { kind: 'postgres', url: `postgres://postgres@127.0.0.1:${await closedPort()}/accounts` },
      migrateOnStart: false,
      seedIfEmpty: null,
      nodeEnv: 'production',
    },
    testLogger('accounts'),
  );
  workdir = await mkdtemp(join(tmpdir(), 'db-down-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeFor({ ...healthy.byName, accounts: accountsWithoutDatabase }));
  router = await startRouter(
    { host: '127.0.0.1', port: 0, supergraphPath, watchSupergraph: false, subgraphUrls: {}, nodeEnv: 'production' },
    testLogger('router'),
  );
});

afterAll(async () => {
  await router?.stop();
  await accountsWithoutDatabase?.stop();
  await healthy?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

describe('a subgraph whose database cannot be reached', () => {
  it('answers with DATABASE_UNAVAILABLE, not a crash or a driver message', async () => {
    const response = await postGraphQL(accountsWithoutDatabase.url, `query ($id: ID!) { user(id: $id) { name } }`, {
      id: seedUser(0).id,
    });
    expect(response.body.data).toEqual({ user: null });
    expect(response.body.errors).toEqual([
      {
        message: 'The accounts database is unavailable. Try again shortly.',
        path: ['user'],
        locations: expect.any(Array),
        extensions: { code: 'DATABASE_UNAVAILABLE' },
      },
    ]);
    expect(JSON.stringify(response.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });

  it('reports not ready, saying why', async () => {
    const ready = await fetch(accountsWithoutDatabase.url.replace(/graphql$/, 'health/ready'));
    expect(ready.status).toBe(503);
    const body = await ready.json();
    expect(body).toEqual({
      status: 'not ready',
      phase: 'waiting',
      waitingFor: ['database'],
      checks: { database: { ok: false, detail: expect.stringMatching(/^waiting for the database: .*ECONNREFUSED/) } },
    });
    expect((await fetch(accountsWithoutDatabase.url.replace(/graphql$/, 'health/live'))).status).toBe(200);
  });

  it('costs the router only the fields it owns: the rest of the response is intact', async () => {
    const response = await postGraphQL<any>(
      router.url,
      `query ($id: ID!) { product(id: $id) { name quantity reviews(first: 2) { edges { node { rating author { name } } } } } }`,
      { id: seedProduct(0).id },
    );
    expect(response.status).toBe(200);
    const product = response.body.data.product;
    expect(product).toMatchObject({ name: seedProduct(0).name, quantity: expect.any(Number) });
    expect(product.reviews.edges).toHaveLength(2);
    for (const { node } of product.reviews.edges) {
      expect(node.rating).toBeGreaterThanOrEqual(1);
      expect(node.author).toBeNull();
    }
    expect(response.body.errors?.map((error: any) => error.extensions.code)).toContain('DATABASE_UNAVAILABLE');
  });
});
