import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { envPrefix } from '../platform/src/config.ts';
import { defaultSubgraphPolicy } from '../router/src/subgraph-fetch/resilience.ts';
import { seedProduct } from '../seed/world.ts';
import { subgraphs, type SubgraphName } from '../subgraphs/registry.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { freePorts, runScript, type ServiceProcess } from './support/processes.ts';
import { composeFor } from './support/shop-graph.ts';
import { measureMachineSpeed } from './support/machine-speed.ts';
import { until } from './support/until.ts';

/**
 * The graph as real processes, each subgraph on its own database, with a
 * router process in front, while clients keep sending requests:
 * - inventory is SIGKILLed and started again on the same port: requests
 *   that do not need it never notice; those that do get the rest of their
 *   data and SUBGRAPH_UNAVAILABLE naming it; errors stop within the
 *   breaker's reset time and a margin (5 s in all on an idle machine) of the
 *   new process reporting ready;
 * - reviews is frozen with SIGSTOP: no request waits for it longer than
 *   its timeout (1 s on an idle machine, set for reviews alone) and a
 *   margin, and it recovers after SIGCONT.
 * The subgraph timeouts given to the router and the margins around its own
 * times scale with the machine's measured slowdown: on a busy machine a
 * healthy subgraph may take seconds to answer, and must not count as a fault.
 */

const postgresAdminUrl = inject('postgresAdminUrl');
/** Measured before the tests are collected, so their timeouts scale too. */
const speed = await measureMachineSpeed();

/** The reviews subgraph's timeout in this graph (SUBGRAPH_OVERRIDES). */
const reviewsTimeoutMs = speed.scale(1_000);
/**
 * A fetch never outlives its timeout, retries included (they only use what
 * is left of it), so a request that waits on one subgraph at one step of
 * its plan ends within the timeout and the time the other steps take.
 */
const latencyBoundMs = reviewsTimeoutMs + speed.scale(1_000);
/**
 * The breaker stays open this long (the router's default,
 * SUBGRAPH_BREAKER_RESET_MS), then lets a trial through: errors stop within
 * it and the time the trial and the requests in flight take.
 */
const recoveryBoundMs = defaultSubgraphPolicy.breakerResetMs + speed.scale(2_000);

// Each op reads a product; ids rotate over the seeded catalog, so requests are not all identical.
const operations = {
  /** Products alone. */
  catalogOnly: `query CatalogOnly($id: ID!) { product(id: $id) { id name price { centAmount } } categories { slug } }`,
  /** Products and reviews. */
  withRating: `query WithRating($id: ID!) { product(id: $id) { id name averageRating } }`,
  /** Products and inventory (shippingEstimate @requires the price and weight). */
  withShipping: `query WithShipping($id: ID!) { product(id: $id) { id name shippingEstimate { centAmount } } }`,
} as const;
type OperationName = keyof typeof operations;

interface Outcome {
  operation: OperationName;
  startedAt: number;
  endedAt: number;
  status: number;
  body: {
    data?: { product?: Record<string, unknown> | null } | null;
    errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  };
}

const databases: TestDatabase[] = [];
const ports = {} as Record<SubgraphName, number>;
const running = {} as Record<SubgraphName, ServiceProcess>;
let dataDir: string;
let workdir: string;
let router: ServiceProcess;
let routerUrl: string;

function subgraphEnv(name: SubgraphName, database: TestDatabase): NodeJS.ProcessEnv {
  const prefix = envPrefix(name);
  return {
    [`${prefix}_PORT`]: String(ports[name]),
    // Without a real Postgres each process keeps an embedded database in a folder of its own.
    [`${prefix}_DATABASE_URL`]: database.target.kind === 'postgres' ? database.target.url : undefined,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  };
}

const envs = {} as Record<SubgraphName, NodeJS.ProcessEnv>;

async function whenReady(name: SubgraphName, timeoutMs = speed.scale(120_000)): Promise<number> {
  const url = `http://127.0.0.1:${ports[name]}/health/ready`;
  await until(async () => (await fetch(url).catch(() => null))?.status === 200, {
    timeoutMs,
    what: `${name} ready`,
  });
  return performance.now();
}

function startSubgraph(name: SubgraphName): ServiceProcess {
  running[name] = runScript('subgraphs/serve.ts', [name], envs[name]);
  return running[name];
}

async function post(operation: OperationName, index: number): Promise<Outcome> {
  const startedAt = performance.now();
  try {
    const response = await fetch(routerUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: operations[operation], variables: { id: seedProduct(index % 100).id } }),
      signal: AbortSignal.timeout(speed.scale(30_000)),
    });
    const body = (await response.json()) as Outcome['body'];
    return { operation, startedAt, endedAt: performance.now(), status: response.status, body };
  } catch (error) {
    const message = `no answer from the router: ${(error as Error).message}`;
    return { operation, startedAt, endedAt: performance.now(), status: 0, body: { errors: [{ message }] } };
  }
}

/**
 * `clients` concurrent clients, each sending the given operations in turn
 * with a short pause, until `done()` says so or `maxMs` has passed. Each
 * outcome is pushed to `outcomes` as it comes, so a test can watch them.
 */
async function load(
  clients: number,
  mix: readonly OperationName[],
  done: () => boolean,
  maxMs: number,
  outcomes: Outcome[] = [],
): Promise<Outcome[]> {
  const deadline = performance.now() + maxMs;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let sent = 0; !done() && performance.now() < deadline; sent++) {
        outcomes.push(await post(mix[(client + sent) % mix.length]!, client * 7 + sent));
        // Enough to keep a 2-core machine able to restart a subgraph meanwhile.
        await sleep(20);
      }
    }),
  );
  return outcomes;
}

const failed = (outcome: Outcome) => outcome.status !== 200 || (outcome.body.errors?.length ?? 0) > 0;
const codesOf = (outcome: Outcome) => (outcome.body.errors ?? []).map((error) => error.extensions?.code);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'subgraph-faults-data-'));
  workdir = await mkdtemp(join(tmpdir(), 'subgraph-faults-'));
  const [routerPort, ...subgraphPorts] = await freePorts(subgraphs.length + 1);
  subgraphs.forEach(({ name }, index) => (ports[name] = subgraphPorts[index]!));
  for (const { name } of subgraphs) {
    const database = await createTestDatabase(`faults_${name}`, postgresAdminUrl);
    databases.push(database);
    envs[name] = subgraphEnv(name, database);
  }
  for (const { name } of subgraphs) startSubgraph(name);
  await Promise.all(subgraphs.map(({ name }) => whenReady(name)));

  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(
    supergraphPath,
    composeFor(
      Object.fromEntries(subgraphs.map(({ name }) => [name, { url: `http://127.0.0.1:${ports[name]}/graphql` }])),
    ),
  );
  router = runScript(
    'router/src/main.ts',
    ['--supergraph', supergraphPath, '--port', String(routerPort), '--host', '127.0.0.1'],
    {
      // As deployed: what a client sees is what production shows.
      NODE_ENV: 'production',
      // Production's fixed metrics port could be taken by another run on this machine.
      METRICS_PORT: '0',
      RATE_LIMIT: 'off',
      // Every request must reach the subgraphs.
      RESPONSE_CACHE: 'off',
      SUPERGRAPH_WATCH: 'false',
      // The other subgraphs' timeout: the default, stretched as the reviews one is.
      SUBGRAPH_TIMEOUT_MS: String(speed.scale(defaultSubgraphPolicy.timeoutMs)),
      SUBGRAPH_OVERRIDES: JSON.stringify({ reviews: { timeoutMs: reviewsTimeoutMs } }),
      LOG_LEVEL: 'info',
    },
  );
  routerUrl = `http://127.0.0.1:${routerPort}/graphql`;
  await until(async () => (await fetch(`http://127.0.0.1:${routerPort}/health/ready`).catch(() => null))?.ok === true, {
    timeoutMs: speed.scale(60_000),
    what: 'the router ready',
  });
}, speed.scale(300_000));

afterAll(async () => {
  // A stopped process would sit on its signals forever: wake every one before stopping it.
  for (const process of Object.values(running)) process.child.kill('SIGCONT');
  await Promise.allSettled([router?.stop(), ...Object.values(running).map((process) => process.stop())]);
  await Promise.allSettled(databases.map((database) => database.drop()));
  await Promise.allSettled(
    [dataDir, workdir].flatMap((dir) => (dir ? [rm(dir, { recursive: true, force: true })] : [])),
  );
}, speed.scale(120_000));

describe('a subgraph SIGKILLed under load, then restarted', () => {
  it(
    'fails only what needs it, with partial data, and errors stop soon after its return',
    async () => {
      let stop = false;
      const loadStartedAt = performance.now();
      const outcomes: Outcome[] = [];
      const loading = load(
        10,
        ['catalogOnly', 'withRating', 'withShipping'],
        () => stop,
        speed.scale(120_000),
        outcomes,
      );

      await sleep(2_000);
      expect(await running.inventory.stop('SIGKILL')).toBeNull();
      const killedAt = performance.now();
      // The outage lasts while clients keep coming, and the breaker has time to open.
      await sleep(2_000);
      startSubgraph('inventory');
      const readyAt = await whenReady('inventory');
      // Load on past the bound (6 s on an idle machine), and until a request needing inventory
      // has been answered after the last one that failed: errors that came back would show.
      await until(
        () => {
          if (performance.now() - readyAt < recoveryBoundMs + 1_000) return false;
          const lastFailedAt = Math.max(
            0,
            ...outcomes
              .filter((outcome) => outcome.operation === 'withShipping' && failed(outcome))
              .map((o) => o.endedAt),
          );
          return outcomes.some(
            (outcome) => outcome.operation === 'withShipping' && outcome.startedAt > lastFailedAt && !failed(outcome),
          );
        },
        { timeoutMs: speed.scale(60_000), what: 'a request needing inventory answered after the last error' },
      );
      stop = true;
      await loading;

      const untouched = outcomes.filter((outcome) => outcome.operation !== 'withShipping');
      const touching = outcomes.filter((outcome) => outcome.operation === 'withShipping');
      expect(untouched.length).toBeGreaterThan(100);
      expect(untouched.filter(failed)).toEqual([]);

      const failures = touching.filter(failed);
      expect(failures.length).toBeGreaterThan(0);
      for (const outcome of failures) {
        expect(outcome.status).toBe(200);
        // Products answered: the product is there, with null where inventory would have answered.
        expect(outcome.body.data?.product).toMatchObject({ name: expect.any(String), shippingEstimate: null });
        // Production names no subgraph to clients: the router's log says which one failed.
        expect(outcome.body.errors).toEqual([
          {
            message: 'Part of this response is unavailable. Try again shortly.',
            extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
          },
        ]);
        expect(JSON.stringify(outcome.body)).not.toContain(String(ports.inventory));
        expect(JSON.stringify(outcome.body)).not.toContain('inventory');
      }
      for (const outcome of failures) expect(outcome.endedAt).toBeGreaterThan(killedAt);

      const lastErrorAt = Math.max(...failures.map((outcome) => outcome.endedAt));
      const recoveredWithinMs = lastErrorAt - readyAt;
      console.info(
        `inventory killed ${Math.round(killedAt - loadStartedAt)} ms into the load, ready again ` +
          `${Math.round(readyAt - killedAt)} ms later; ${outcomes.length} requests, ${failures.length} ` +
          `with SUBGRAPH_UNAVAILABLE; last error ${Math.round(recoveredWithinMs)} ms after ready ` +
          `(bound ${recoveryBoundMs} ms, machine slowdown ${speed.slowdown.toFixed(2)})`,
      );
      expect(recoveredWithinMs).toBeLessThan(recoveryBoundMs);
      expect(touching.some((outcome) => outcome.startedAt > lastErrorAt && !failed(outcome))).toBe(true);

      // The breaker opened under the load, and closed once the new process answered a trial.
      const breaker = router
        .logs()
        .filter((line) => line.subgraph === 'inventory' && String(line.msg).startsWith('subgraph circuit'))
        .map((line) => String(line.msg).split(':')[0]);
      expect(breaker).toContain('subgraph circuit opened');
      expect(breaker.at(-1)).toBe('subgraph circuit closed');
    },
    speed.scale(240_000),
  );
});

describe('a frozen subgraph (SIGSTOP)', () => {
  it(
    'holds no request longer than its timeout and a margin, and recovers after SIGCONT',
    async () => {
      let stop = false;
      running.reviews.child.kill('SIGSTOP');
      let outcomes: Outcome[];
      try {
        const loading = load(5, ['withRating', 'catalogOnly'], () => stop, speed.scale(60_000));
        await sleep(5_000);
        stop = true;
        outcomes = await loading;
      } finally {
        running.reviews.child.kill('SIGCONT');
      }
      const continuedAt = performance.now();

      const touching = outcomes.filter((outcome) => outcome.operation === 'withRating');
      const untouched = outcomes.filter((outcome) => outcome.operation === 'catalogOnly');
      expect(untouched.filter(failed)).toEqual([]);
      expect(touching.length).toBeGreaterThan(0);
      const latencies = touching.map((outcome) => outcome.endedAt - outcome.startedAt);
      const maxLatency = Math.max(...latencies);
      for (const outcome of touching) {
        expect(outcome.status).toBe(200);
        expect(outcome.body.data?.product).toMatchObject({ name: expect.any(String), averageRating: null });
        expect(outcome.body.errors).toHaveLength(1);
        expect(outcome.body.errors![0]!.extensions?.subgraph).toBeUndefined();
        expect(JSON.stringify(outcome.body)).not.toContain(String(ports.reviews));
        expect(JSON.stringify(outcome.body)).not.toContain('reviews');
      }
      // Sent and waited for: timed out. Once the breaker has opened on those timeouts, refused at once: unavailable.
      for (const outcome of touching)
        expect(['SUBGRAPH_TIMEOUT', 'SUBGRAPH_UNAVAILABLE']).toContain(codesOf(outcome)[0]);
      const timedOut = touching.filter((outcome) => codesOf(outcome)[0] === 'SUBGRAPH_TIMEOUT');
      expect(timedOut.length).toBeGreaterThan(0);
      expect(maxLatency).toBeLessThan(latencyBoundMs);

      // Awake again: the breaker lets a trial through within its reset time, and it succeeds.
      let recoveredAt = 0;
      await until(
        async () => {
          const outcome = await post('withRating', 1);
          recoveredAt = performance.now();
          return !failed(outcome);
        },
        { timeoutMs: speed.scale(15_000), what: 'reviews answering again' },
      );
      console.info(
        `reviews frozen: ${touching.length} requests touching it, ` +
          `${timedOut.length} timed out, ` +
          `longest ${Math.round(maxLatency)} ms (bound ${latencyBoundMs} ms, machine slowdown ${speed.slowdown.toFixed(2)}); ` +
          `longest untouched ${Math.round(Math.max(...untouched.map((o) => o.endedAt - o.startedAt)))} ms; ` +
          `answering again ${Math.round(recoveredAt - continuedAt)} ms after SIGCONT`,
      );
    },
    speed.scale(120_000),
  );
});
