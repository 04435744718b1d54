import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envPrefix } from '../platform/src/config.ts';
import { seedId, seedReview, worldSizes } from '../seed/world.ts';
import { subgraphs } from '../subgraphs/registry.ts';
import { portIsFree, processesWithEnv, signalAndWait } from './support/process-tree.ts';
import { freePorts, runScript, type ServiceProcess } from './support/processes.ts';
import { copyRepository, type RepositoryCopy } from './support/repository-copy.ts';
import { developmentSecrets } from '../scripts/dev/secrets.ts';
import { postGraphQL } from './support/shop-graph.ts';
import { signTestToken } from './support/tokens.ts';

/**
 * `npm start`'s hot reload, on real processes, in a copy of the repository
 * so that the edits never touch this checkout. While clients query the
 * products, inventory, accounts and orders subgraphs without pause, the
 * reviews subgraph is edited: a new field, a schema that does not compose,
 * a resolver that does not load. The new field must be served within a
 * bounded time, and not one of the other requests may fail throughout.
 */

// Touches every subgraph but reviews; the response cache is off, so each one reaches them.
const elsewhereQuery = /* GraphQL */ `
  {
    products(first: 3) {
      edges {
        node {
          name
          quantity
          inStock
        }
      }
    }
    viewer {
      name
      orders(first: 2) {
        totalCount
      }
    }
  }
`;
const review = seedReview(0, worldSizes.small);
const reviewQuery = `query ($id: ID!) { review(id: $id) { rating authorUsername } }`;

// First start migrates and seeds five embedded databases.
const startTimeoutMs = 180_000;
// A save is composed, the subgraph restarted and the router reloaded within this, on a busy 2-core machine.
const reloadTimeoutMs = 45_000;
const stepTimeoutMs = 2 * reloadTimeoutMs + 30_000;

let copy: RepositoryCopy;
let dataDir: string;
let graph: ServiceProcess;
let routerUrl: string;
let allPorts: number[];

/** Clients querying the rest of the graph until stopped; every failure is kept. */
async function startTraffic(clients: number) {
  // Signed in as seed users, with the secret `npm start` made up, so orders are theirs to see.
  const { jwtSecret } = developmentSecrets(dataDir);
  const tokens = await Promise.all(
    Array.from({ length: 10 }, (_, index) => signTestToken(jwtSecret, seedId('user', index))),
  );
  let running = true;
  let requests = 0;
  const failures: string[] = [];
  const loops = Array.from({ length: clients }, async (_, client) => {
    for (let index = 0; running; index++) {
      try {
        const response = await postGraphQL<any>(
          routerUrl,
          elsewhereQuery,
          {},
          { authorization: `Bearer ${tokens[(client * 7 + index) % tokens.length]}` },
        );
        if (response.status !== 200 || response.body.errors)
          failures.push(`${response.status} ${JSON.stringify(response.body.errors)}`);
      } catch (error) {
        failures.push(String(error));
      }
      requests++;
    }
  });
  return {
    requests: () => requests,
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
let traffic: Awaited<ReturnType<typeof startTraffic>>;

/** Waits for `text` in what `npm start` prints after `mark` (an earlier output length). */
async function printed(text: string, mark: number): Promise<string> {
  await graph.waitFor((output) => output.slice(mark).includes(text), reloadTimeoutMs);
  return graph.output().slice(mark);
}

beforeAll(async () => {
  copy = await copyRepository();
  dataDir = await mkdtemp(join(tmpdir(), 'hot-reload-'));
  const [routerPort, ...ports] = await freePorts(subgraphs.length + 1);
  allPorts = [routerPort!, ...ports];
  routerUrl = `http://127.0.0.1:${routerPort}/graphql`;
  graph = runScript(join(copy.dir, 'scripts/start.ts'), [], {
    // The environment of the machine running the tests must not redirect the graph to real databases.
    ...Object.fromEntries(subgraphs.map(({ name }) => [`${envPrefix(name)}_DATABASE_URL`, undefined])),
    ...Object.fromEntries(subgraphs.map(({ name }, index) => [`${envPrefix(name)}_PORT`, String(ports[index])])),
    DATA_DIR: dataDir,
    ROUTER_PORT: String(routerPort),
    RESPONSE_CACHE: 'off',
    LOG_LEVEL: 'warn',
  });
  await graph.waitFor((output) => output.includes('Shop graph is up'), startTimeoutMs);
  expect(graph.output()).toContain('Watching the subgraphs');
  traffic = await startTraffic(2);
}, startTimeoutMs + 30_000);

afterAll(async () => {
  await traffic?.stop();
  const code = await graph?.stop('SIGINT');
  copy?.remove();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  expect(code).toBe(0);
});

describe('npm start with hot reload', () => {
  it(
    'serves a field added to a subgraph schema within 45 s of the save, failing no other request',
    async () => {
      const before = await postGraphQL<any>(routerUrl, reviewQuery, { id: review.id });
      expect(before.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

      const mark = graph.output().length;
      // Backed by an existing column, through the default resolver.
      copy.edit(
        'subgraphs/reviews/schema.graphql',
        '  rating: Int!\n',
        '  rating: Int!\n  "The author\'s username when the review was written."\n  authorUsername: String\n',
      );
      const output = await printed('✓ reviews (schema.graphql): composed, restarted reviews, router reloaded', mark);
      expect(output).toMatch(/router reloaded to graph [0-9a-f]{12}/);

      const after = await postGraphQL<any>(routerUrl, reviewQuery, { id: review.id });
      expect(after.body).toEqual({
        data: { review: { rating: review.rating, authorUsername: review.authorUsername } },
      });
      // The files written are the ones `npm run compose` writes.
      expect(copy.read('schema/api.graphql')).toContain('authorUsername: String');
      const check = await copy.npm('compose:check');
      expect(check.exitCode, check.stdout + check.stderr).toBe(0);

      expect(traffic.failures).toEqual([]);
      expect(traffic.requests()).toBeGreaterThan(10);
    },
    stepTimeoutMs,
  );

  it(
    'shows a change that does not compose and keeps serving the last good graph',
    async () => {
      const supergraph = copy.read('schema/supergraph.graphql');
      const mark = graph.output().length;
      copy.edit('subgraphs/reviews/schema.graphql', '  authorUsername: String\n', '  authorUsername: NoSuchType\n');
      const output = await printed('✗ reviews (schema.graphql): the subgraphs do not compose', mark);
      expect(output).toContain('Unknown type NoSuchType');
      expect(copy.read('schema/supergraph.graphql')).toBe(supergraph);

      const response = await postGraphQL<any>(routerUrl, reviewQuery, { id: review.id });
      expect(response.body.data?.review?.authorUsername).toBe(review.authorUsername);

      // Undone, it is what the running subgraph serves: nothing to restart.
      const undone = graph.output().length;
      copy.edit('subgraphs/reviews/schema.graphql', '  authorUsername: NoSuchType\n', '  authorUsername: String\n');
      await printed('✓ The subgraphs are back to what is running; nothing to reload.', undone);
      expect(traffic.failures).toEqual([]);
    },
    stepTimeoutMs,
  );

  it(
    'keeps the graph up when a subgraph does not start, and starts it with the next save',
    async () => {
      const resolvers = copy.read('subgraphs/reviews/src/resolvers.ts');
      const mark = graph.output().length;
      copy.write('subgraphs/reviews/src/resolvers.ts', resolvers + '\nexport const broken = ;\n');
      await printed('✗ reviews (src/resolvers.ts): composed, but reviews did not start', mark);

      const down = await postGraphQL<any>(routerUrl, reviewQuery, { id: review.id });
      expect(down.body.errors).toBeDefined();

      const fixed = graph.output().length;
      copy.write('subgraphs/reviews/src/resolvers.ts', resolvers);
      // Back to the code it ran before: it only has to start.
      await printed('✓ reviews (not running): restarted reviews; supergraph unchanged', fixed);
      const up = await postGraphQL<any>(routerUrl, reviewQuery, { id: review.id });
      expect(up.body.data?.review?.authorUsername).toBe(review.authorUsername);

      expect(traffic.failures).toEqual([]);
    },
    stepTimeoutMs,
  );

  // Last: it stops the graph.
  it(
    'stops every process it started when stopped while a subgraph restarts',
    async () => {
      await traffic.stop();
      const mark = graph.output().length;
      copy.write(
        'subgraphs/reviews/src/resolvers.ts',
        copy.read('subgraphs/reviews/src/resolvers.ts') + '\n// touched\n',
      );
      // The old process has stopped and the new one is loading.
      await printed('reviews    starting', mark);
      expect(await signalAndWait(graph.child, 'SIGTERM', 60_000)).toBe(0);
      expect(await processesWithEnv('DATA_DIR', dataDir)).toEqual([]);
      for (const port of allPorts) expect(await portIsFree(port), `port ${port}`).toBe(true);
    },
    stepTimeoutMs,
  );
});
