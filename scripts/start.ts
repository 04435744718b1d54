/**
 * `npm start`: the whole graph on one machine with nothing installed. The
 * subgraphs and the router run in one child process (scripts/dev/graph-host.ts,
 * which says why: the graph fits in 1 GB that way), each on its own port,
 * each subgraph on its embedded PGlite database (or on Postgres where
 * `<NAME>_DATABASE_URL` is set), migrated and seeded on first run; the
 * router starts once every subgraph is ready. Events between the subgraphs
 * travel on an in-memory bus in that process, or on Redis with `REDIS_URL`.
 *
 * Outside production it then watches the subgraphs (scripts/dev/hot-reload.ts):
 * a save recomposes the supergraph, restarts the subgraph that changed and
 * reloads the router, and a subgraph that does not start again is started
 * with the next save, while the rest of the graph keeps serving.
 *
 * It says what it does, one short line per step per service (each
 * subgraph's start reaches it over IPC, platform/src/progress.ts), and keeps
 * the services' own logs to warnings unless LOG_LEVEL asks for more.
 * Stopped at any moment (a signal, a process that exits), it stops every
 * process it started, including one still starting, before it exits.
 *
 *   npm start                 small seed, quick to start
 *   npm start -- --scale      benchmark-sized seed on first run
 *   npm start -- --no-watch   no hot reload (also SCHEMA_WATCH=false)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { booleanFromEnv, envPrefix, logLevelFromEnv, nodeEnvFromEnv, parseEnv } from '../platform/src/config.ts';
import { lifecycleEnv } from '../platform/src/lifecycle.ts';
import { configOrExit } from '../platform/src/process.ts';
import { isStartProgressMessage, startProgressEnv, type StartStep } from '../platform/src/progress.ts';
import { schemaFileOf, subgraphs } from '../subgraphs/registry.ts';
import type { HotReload } from './dev/hot-reload.ts';
import { productionPreflight } from './dev/production.ts';
import { graphCommand, isGraphReport } from './dev/graph-messages.ts';
import { developmentSecrets } from './dev/secrets.ts';
import { describeStartStep, displayPath, notReadyDetail, seconds, startLinePrinter } from './dev/start-report.ts';

const { values: flags } = parseArgs({
  options: { scale: { type: 'boolean', default: false }, 'no-watch': { type: 'boolean', default: false } },
});
const env = configOrExit(() =>
  parseEnv(
    z.object({
      NODE_ENV: nodeEnvFromEnv,
      SCHEMA_WATCH: booleanFromEnv.default(true),
      REDIS_URL: z.string().optional(),
      DATA_DIR: z.string().min(1).default('.data'),
      LOG_LEVEL: logLevelFromEnv,
      SHUTDOWN_TIMEOUT_SECONDS: lifecycleEnv.SHUTDOWN_TIMEOUT_SECONDS,
    }),
  ),
);
const production = env.NODE_ENV === 'production';
const watchSchemas = !production && env.SCHEMA_WATCH && !flags['no-watch'];
const root = fileURLToPath(new URL('..', import.meta.url));
// Resolved as the subgraphs resolve it: they run in the repository's root.
const dataDir = resolve(root, env.DATA_DIR);
const routerPort = Number(process.env.ROUTER_PORT ?? 4000);
// A restarted subgraph that is not ready by then is reported, so that hot reload can go on with the next save.
const restartTimeoutMs = 180_000;
// Each process cuts its own stop short at SHUTDOWN_TIMEOUT_SECONDS and says what was still open; the
// SIGKILL comes only if that did not happen, so it must come later.
const stopTimeoutMs = (env.SHUTDOWN_TIMEOUT_SECONDS + 5) * 1000;
const startedAt = Date.now();

// Each port can be moved with `<NAME>_PORT`; the router is then pointed at it.
const services = subgraphs.map(({ name, port }) => ({
  name,
  port: Number(process.env[`${envPrefix(name)}_PORT`] ?? port),
}));
const line = startLinePrinter([...services.map(({ name }) => name), 'router', 'events']);

if (production) {
  const preflight = productionPreflight(
    services.map(({ name }) => name),
    process.env,
  );
  (preflight.fatal ? console.error : console.log)(
    'Production mode (NODE_ENV=production): nothing is made up, migrated or seeded here.',
  );
  for (const [who, what] of preflight.lines) line(who, what, { error: preflight.fatal });
  if (preflight.fatal) {
    console.error('Set the variables above and start again, or run `npm start` without NODE_ENV=production.');
    process.exit(2);
  }
}

// Outside production, tokens from `npm run token` verify and subgraphs know the caller with nothing configured.
const developmentAuthentication = ((): NodeJS.ProcessEnv => {
  if (production) return {};
  const secrets = developmentSecrets(dataDir);
  return {
    ...(process.env.AUTH_JWKS_URL ? {} : { AUTH_JWT_SECRET: secrets.jwtSecret }),
    INTERNAL_IDENTITY_SECRET: secrets.identitySecret,
  };
})();

/** The process running the graph, until it exits. */
let graph: ChildProcess | null = null;
let hotReload: HotReload | null = null;
let stopping = false;

function runGraph(env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev/graph-host.ts'], {
    cwd: root,
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: {
      LOG_PRETTY: 'true',
      // The progress lines say what the start does; a process's own log adds warnings, or all of it with LOG_LEVEL.
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      // Production seeds nothing unless told to (SEED_IF_EMPTY).
      ...(production ? {} : { SEED_IF_EMPTY: flags.scale ? 'scale' : 'small' }),
      ...developmentAuthentication,
      ...process.env,
      ...env,
    },
  });
  child.on('exit', (code, signal) => {
    graph = null;
    if (stopping) return;
    line('router', `the graph exited (${signal ?? `code ${code}`}); stopping. Its log above says why.`, {
      error: true,
    });
    void stop(1);
  });
  return child;
}

/** When each subgraph's current start began, for the elapsed time its lines show. */
const startedAtOf = new Map<string, number>();

/** Prints each subgraph's start steps as `graph` reports them. */
function reportSteps(graph: ChildProcess): void {
  const waitingFor = new Map<string, string>();
  graph.on('message', (message) => {
    if (!isStartProgressMessage(message) || stopping || !message.service) return;
    const name = message.service;
    const step: StartStep = message.step;
    // One line per wait, not one per retry: a new line only when the reason changes.
    if (step.step === 'waiting') {
      if (`${step.for}: ${step.reason}` === waitingFor.get(name)) return;
      waitingFor.set(name, `${step.for}: ${step.reason}`);
    }
    line(name, describeStartStep(name, step, { elapsedMs: Date.now() - (startedAtOf.get(name) ?? startedAt) }));
  });
}

/**
 * Resolves once the service answers /health/ready; rejects if `child` exits
 * first, or after `timeoutMs` if given. At start there is no deadline here:
 * a busy machine may take minutes just to load the code, the progress lines
 * show that it moves, and a subgraph gives up waiting for its database by
 * itself (STARTUP_TIMEOUT_SECONDS). `onNotReady` hears why it is not ready,
 * each time that changes.
 */
async function waitUntilReady(
  name: string,
  port: number,
  {
    child,
    timeoutMs = null,
    onNotReady,
  }: { child: ChildProcess; timeoutMs?: number | null; onNotReady?: (detail: string) => void },
): Promise<void> {
  const deadline = timeoutMs === null ? Infinity : Date.now() + timeoutMs;
  let lastDetail = '';
  while (Date.now() < deadline) {
    if (stopping) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `it exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready; its log says why`,
      );
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
      if (response.ok) return;
      const detail = notReadyDetail(await response.json().catch(() => null));
      if (detail && detail !== lastDetail && !stopping) onNotReady?.(detail);
      lastDetail = detail ?? lastDetail;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} was not ready on port ${port} after ${(timeoutMs ?? 0) / 1000} s`);
}

/** SIGTERM, so the process finishes its in-flight requests; SIGKILL if it has not exited in time. */
function terminate(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Restarts a subgraph in place on the code now on disk: the graph's process
 * stops it (it drains, and its embedded database closes), loads its code
 * again and starts it. Until it is ready, a few seconds, requests that need
 * this subgraph fail; the router serves everything else as before. Rejects
 * with the reason when it does not start again.
 */
function restartSubgraph(name: string): Promise<void> {
  const child = graph;
  if (stopping || !child) return Promise.reject(new Error('the graph is stopping'));
  line(name, 'starting');
  startedAtOf.set(name, Date.now());
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => settle(new Error(`${name} was not ready after ${restartTimeoutMs / 1000} s`)),
      restartTimeoutMs,
    );
    const onMessage = (message: unknown) => {
      if (isStartProgressMessage(message) && message.service === name && message.step.step === 'ready') settle();
      else if (isGraphReport(message) && message.service === name) settle(new Error(message.reason));
    };
    const onExit = () => settle(new Error('the graph exited'));
    function settle(error?: Error) {
      clearTimeout(timer);
      child!.off('message', onMessage);
      child!.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(graphCommand('restart', name));
  });
}

/** The id of the supergraph the router serves, from its readiness body's `graphId`. */
async function routerGraphId(): Promise<string | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${routerPort}/health/ready`);
    const body = (await response.json()) as { graphId?: unknown };
    return typeof body.graphId === 'string' ? body.graphId : null;
  } catch {
    return null;
  }
}

/** Stops every process started, whatever it is doing, then exits with `code`. */
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (graph) console.log('\nStopping the graph…');
  // Not awaited: a recomposition under way sees `stopping` and gives up.
  void hotReload?.close();
  await terminate(graph);
  process.exit(code);
}

// A second Ctrl-C must not kill this process before the ones it is stopping: those would be left running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));

async function startGraph(): Promise<void> {
  for (const { name } of services) line(name, 'starting');
  const child = runGraph(
    Object.fromEntries([
      ['ROUTER_PORT', String(routerPort)],
      ...Object.entries(startProgressEnv),
      ...services.flatMap(({ name, port }) => [
        [`${envPrefix(name)}_PORT`, String(port)],
        [`${envPrefix(name)}_SUBGRAPH_URL`, `http://127.0.0.1:${port}/graphql`],
      ]),
    ]),
  );
  graph = child;
  reportSteps(child);
  await Promise.all(services.map(({ name, port }) => waitUntilReady(name, port, { child })));
  if (stopping) return;
  line('router', 'starting');
  child.send(graphCommand('start-router'));
  await waitUntilReady('router', routerPort, {
    child,
    onNotReady: (detail) => line('router', `not ready yet: ${detail}`),
  });
  if (stopping) return;
  line(
    'router',
    `ready at http://localhost:${routerPort}/graphql (the graph started in ${seconds(Date.now() - startedAt)})`,
  );
  if (watchSchemas) {
    // Loaded only now: composition is a large import, and the first lines should not wait for it.
    const { describeHotReload, watchSubgraphs } = await import('./dev/hot-reload.ts');
    hotReload = await watchSubgraphs({
      // Registry ports, not the ones moved by `<NAME>_PORT`: the files written are what `npm run compose` writes.
      subgraphs: subgraphs.map(({ name, port }) => ({ name, port, dir: dirname(fileURLToPath(schemaFileOf(name))) })),
      schemaDir: fileURLToPath(new URL('../schema/', import.meta.url)),
      restartSubgraph,
      routerGraphId,
      report: (outcome) => {
        const ok = outcome.status === 'reloaded' || outcome.status === 'reverted';
        (ok ? console.log : console.error)(describeHotReload(outcome));
      },
    });
  }
}

try {
  await startGraph();
} catch (error) {
  if (!stopping) console.error(error instanceof Error ? error.message : error);
  await stop(1);
}

if (!stopping) {
  const width = Math.max(...services.map(({ name }) => name.length));
  const embedded = services.filter(({ name }) => !process.env[`${envPrefix(name)}_DATABASE_URL`]);
  console.log(
    [
      '',
      `  Shop graph is up. Query it at http://localhost:${routerPort}/graphql`,
      '',
      ...services.map(({ name, port }) => `    ${name.padEnd(width)}  http://localhost:${port}/graphql`),
      '',
      watchSchemas
        ? '  Watching the subgraphs: a save recomposes the supergraph and reloads what changed.'
        : '  Not watching the subgraphs (--no-watch, SCHEMA_WATCH=false or production).',
      embedded.length === services.length
        ? `  Ctrl-C stops everything. Data persists in ${displayPath(dataDir)} between runs (DATA_DIR).`
        : embedded.length > 0
          ? `  Ctrl-C stops everything. Embedded databases (${embedded.map(({ name }) => name).join(', ')}) persist in ${displayPath(dataDir)} (DATA_DIR); the others are in their Postgres.`
          : "  Ctrl-C stops everything. Data is in each subgraph's Postgres (<NAME>_DATABASE_URL).",
      '',
    ].join('\n'),
  );
}
