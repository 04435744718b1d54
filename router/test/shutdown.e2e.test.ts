import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { postOnFreshConnection } from '../../test/support/fresh-connection.ts';
import { runScript, type ServiceProcess } from '../../test/support/processes.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { until } from '../../test/support/until.ts';

/**
 * The router as a real process, sent SIGTERM in the middle of a load. It
 * must report not ready at once, keep serving through the drain, then stop
 * accepting and finish every request it accepted before exiting 0; and a
 * stop that cannot finish must end at its bound, exiting 1.
 *
 * The clients open a new connection for every request, as clients arriving
 * for the first time do, right up to the router's exit: a connection
 * established is a connection accepted, so it must be answered 200, never
 * reset; after the listener has closed, connections are refused.
 *
 * The subgraph answers `echo(id)` with the id. With `hold: true` it waits
 * until the test releases it, so those requests are provably in flight when
 * the listener closes. It records every request it gets: a request that
 * reached it was accepted by the router.
 */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    echo(id: ID!, hold: Boolean!): ID!
  }
`;
const echoQuery = 'query Echo($id: ID!, $hold: Boolean!) { echo(id: $id, hold: $hold) }';

let release: () => void = () => {};
let held = Promise.resolve();
/** From now on, `hold: true` requests wait in the subgraph until `release()`. */
function holdRequests() {
  held = new Promise((resolve) => (release = resolve));
}

let subgraph: TestSubgraph;
let workdir: string;
let supergraphPath: string;
const routers: ServiceProcess[] = [];

beforeAll(async () => {
  subgraph = await startTestSubgraph('echo', sdl, {
    Query: {
      echo: async (_: unknown, { id, hold }: { id: string; hold: boolean }) => {
        if (hold) await held;
        return id;
      },
    },
  });
  const outcome = composeSupergraph([{ name: 'echo', url: subgraph.url, sdl }]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'router-shutdown-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, outcome.supergraphSdl);
});

afterAll(async () => {
  release();
  // A safety net only: each test waits for its router's own exit.
  await Promise.allSettled(routers.map((router) => router.stop('SIGKILL')));
  await subgraph?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

async function startRouter(env: NodeJS.ProcessEnv): Promise<{ router: ServiceProcess; url: string }> {
  const router = runScript('router/src/main.ts', ['--supergraph', supergraphPath, '--port', '0'], {
    LOG_LEVEL: 'info',
    RESPONSE_CACHE: 'off',
    SUPERGRAPH_WATCH: 'false',
    // Held requests wait for the test, however long a busy machine takes to get the load under way.
    SUBGRAPH_TIMEOUT_MS: '120000',
    ...env,
  });
  routers.push(router);
  await router.waitFor((output) => output.includes('"router ready"'));
  return { router, url: router.logs().find((line) => line.msg === 'router ready')!.url as string };
}

/** Resolves with the exit code and when the process exited. */
function exited(router: ServiceProcess): Promise<{ code: number | null; at: number }> {
  return new Promise((resolve) => {
    if (router.child.exitCode !== null || router.child.signalCode !== null)
      resolve({ code: router.child.exitCode, at: Date.now() });
    else router.child.once('exit', (code) => resolve({ code, at: Date.now() }));
  });
}

/** When the router logged `message`, by its own clock (the same machine's). */
function loggedAt(router: ServiceProcess, message: string): number {
  const line = router.logs().find((entry) => entry.msg === message);
  if (!line) throw new Error(`the router never logged "${message}"`);
  return line.time as number;
}

interface Outcome {
  id: string;
  hold: boolean;
  startedAt: number;
  endedAt: number;
  /** The TCP connection was established: accepted, so it must be answered. */
  connected: boolean;
  /** `ok`: 200 with the echoed id; `unanswered`: no response at all; `failed`: any other answer. */
  kind: 'ok' | 'unanswered' | 'failed';
  /** Why there was no answer (`ECONNREFUSED`, `ECONNRESET`…), or the answer given. */
  detail: string;
}

/** One request on a connection of its own. */
async function send(url: string, id: string, hold: boolean): Promise<Outcome> {
  const sent = await postOnFreshConnection(url, { query: echoQuery, variables: { id, hold } });
  const answered = sent.error === null && sent.status === 200;
  const kind =
    sent.status === null
      ? 'unanswered'
      : answered && sent.body.trim() === JSON.stringify({ data: { echo: id } })
        ? 'ok'
        : 'failed';
  const detail = sent.error ?? `${sent.status} ${sent.body}`;
  return { id, hold, startedAt: sent.startedAt, endedAt: sent.endedAt, connected: sent.connected, kind, detail };
}

describe('SIGTERM to the router under load', () => {
  it('reports not ready, serves through the drain, then finishes every accepted request and exits 0', async () => {
    const drainSeconds = 2;
    const timeoutSeconds = 20;
    const { router, url } = await startRouter({
      SHUTDOWN_DRAIN_SECONDS: String(drainSeconds),
      SHUTDOWN_TIMEOUT_SECONDS: String(timeoutSeconds),
    });
    const exit = exited(router);
    holdRequests();

    // 10 clients, each sending one request after another, each on a new connection, until the
    // router has exited: 3 whose requests are held in the subgraph, 7 answered at once.
    let stopped = false;
    void exit.then(() => (stopped = true));
    const outcomes: Outcome[] = [];
    const clients = Array.from({ length: 10 }, async (_, client) => {
      for (let sent = 0; !stopped; sent++) {
        const outcome = await send(url, `c${client}-${sent}`, client < 3);
        outcomes.push(outcome);
        // A refused client tries again shortly, as a client would, rather than spinning.
        if (outcome.kind === 'unanswered') await sleep(20);
      }
    });

    await until(() => outcomes.filter((outcome) => outcome.kind === 'ok').length >= 50, {
      timeoutMs: 30_000,
      what: 'the load under way',
    });
    const heldBefore = subgraph.requests.filter((request) => request.variables?.hold === true).length;
    expect(heldBefore).toBe(3);
    const signalledAt = Date.now();
    router.child.kill('SIGTERM');

    // Readiness turns at once, while the router still serves.
    await until(async () => (await fetch(url.replace(/graphql$/, 'health/ready'))).status === 503, {
      timeoutMs: 1_000,
      what: 'readiness turning 503',
    });
    const ready = await fetch(url.replace(/graphql$/, 'health/ready'));
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      status: 'not ready',
      phase: 'draining',
      checks: { shutdown: { ok: false, detail: 'shutting down' } },
    });

    // Once the listener has closed, let the held requests finish.
    await router.waitFor((output) => output.includes('"stopping: no new connections'), 10_000);
    await sleep(300);
    release();
    const { code, at: exitedAt } = await exit;
    await Promise.all(clients);

    expect(code).toBe(0);
    expect(exitedAt - signalledAt).toBeLessThan(timeoutSeconds * 1000);
    const closedAt = loggedAt(router, 'stopping: no new connections, waiting for requests in flight');
    expect(closedAt - signalledAt).toBeGreaterThanOrEqual(drainSeconds * 1000 - 50);

    const accepted = outcomes.filter((outcome) => outcome.connected);
    const notAccepted = outcomes.filter((outcome) => !outcome.connected);
    // Every connection the router accepted was answered, 200 with its data: none reset, none cut short.
    expect(accepted.filter((outcome) => outcome.kind !== 'ok')).toEqual([]);
    expect(outcomes.filter((outcome) => outcome.detail === 'ECONNRESET')).toEqual([]);
    // The others were refused: the listener had closed.
    expect(notAccepted.filter((outcome) => outcome.detail !== 'ECONNREFUSED')).toEqual([]);
    expect(notAccepted.length).toBeGreaterThan(0);
    // Requests went unanswered only once the listener had closed: none while draining.
    expect(notAccepted.filter((outcome) => outcome.endedAt < closedAt)).toEqual([]);
    // The drain served new requests; the held ones were in flight across the close, and finished.
    const servedWhileDraining = accepted.filter(
      (outcome) => outcome.startedAt > signalledAt && outcome.startedAt < closedAt,
    );
    expect(servedWhileDraining.length).toBeGreaterThan(0);
    const inFlightAtClose = accepted.filter((outcome) => outcome.startedAt < closedAt && outcome.endedAt > closedAt);
    expect(inFlightAtClose.filter((outcome) => outcome.hold)).toHaveLength(3);
    console.log(
      `router under load, 10 clients on fresh connections: ${accepted.length} connections accepted and answered 200 ` +
        `(${servedWhileDraining.length} while draining, ${inFlightAtClose.length} in flight at close), ` +
        `${notAccepted.length} refused after the close, 0 reset; stopped ${exitedAt - signalledAt} ms after SIGTERM`,
    );
  }, 180_000);
});

describe('a stop that cannot finish', () => {
  it('ends at SHUTDOWN_TIMEOUT_SECONDS with exit code 1, naming what was still open', async () => {
    const timeoutSeconds = 2;
    // With the response cache, so its steps (purging, the event bus) are among those named.
    const { router, url } = await startRouter({
      SHUTDOWN_DRAIN_SECONDS: '0',
      SHUTDOWN_TIMEOUT_SECONDS: '2',
      RESPONSE_CACHE: 'on',
    });
    const exit = exited(router);
    holdRequests();
    const before = subgraph.requests.length;
    // Never released while the router lives: the request never ends.
    const hung = send(url, 'hung', true);
    await until(() => subgraph.requests.length > before, { timeoutMs: 10_000, what: 'the request held' });

    const signalledAt = Date.now();
    router.child.kill('SIGTERM');
    const { code, at: exitedAt } = await exit;
    release();

    expect(code).toBe(1);
    expect(exitedAt - signalledAt).toBeGreaterThanOrEqual(timeoutSeconds * 1000);
    expect(exitedAt - signalledAt).toBeLessThan(timeoutSeconds * 1000 + 2_000);
    const overran = router.logs().find((line) => line.msg === 'stop overran its bound; exiting');
    expect(overran?.stillOpen).toEqual([
      'http server (1 connection open)',
      'supergraph reload',
      'gateway',
      'cache purging',
      'event bus',
      'shared cache',
      'metrics server',
    ]);
    expect((await hung).kind).toBe('unanswered');
    console.log(`hung stop: exit 1 after ${exitedAt - signalledAt} ms (bound ${timeoutSeconds * 1000} ms)`);
  }, 60_000);
});
