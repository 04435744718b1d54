/**
 * `npm start`: the whole graph on one machine with nothing installed. Each
 * subgraph runs as its own process on its embedded PGlite database (or on
 * Postgres where `<NAME>_DATABASE_URL` is set), migrated and seeded on first
 * run; the router starts once every subgraph is ready.
 *
 * Outside production it then watches the subgraphs (scripts/dev/hot-reload.ts):
 * a save recomposes the supergraph, restarts the subgraph that changed and
 * reloads the router, and a subgraph that exits is started again on the
 * next save instead of stopping the graph.
 *
 * Without `REDIS_URL`, events between subgraphs travel through this process:
 * it holds one in-memory bus and serves it to each subgraph over the IPC
 * channel it spawns it with (platform/src/events/ipc-bus.ts). Events in it
 * not yet consumed are lost when `npm start` stops; Redis keeps them.
 *
 *   npm start                 small seed, quick to start
 *   npm start -- --scale      benchmark-sized seed on first run
 *   npm start -- --no-watch   no hot reload (also SCHEMA_WATCH=false)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { booleanFromEnv, envPrefix, logLevelFromEnv, nodeEnvFromEnv, parseEnv } from '../platform/src/config.ts';
import { MemoryBus, parentEventBusEnv, serveEventBusOverIpc } from '../platform/src/events/index.ts';
import { createLogger } from '../platform/src/logger.ts';
import { configOrExit } from '../platform/src/process.ts';
import { schemaFileOf, subgraphs } from '../subgraphs/registry.ts';
import { describeHotReload, watchSubgraphs, type HotReload } from './dev/hot-reload.ts';
import { developmentSecrets } from './dev/secrets.ts';

const { values: flags } = parseArgs({
  options: { scale: { type: 'boolean', default: false }, 'no-watch': { type: 'boolean', default: false } },
});
const env = configOrExit(() =>
  parseEnv(
    z.object({
      NODE_ENV: nodeEnvFromEnv,
      SCHEMA_WATCH: booleanFromEnv.default(true),
      REDIS_URL: z.string().optional(),
      LOG_LEVEL: logLevelFromEnv,
      LOG_PRETTY: booleanFromEnv.default(true),
    }),
  ),
);
const watchSchemas = env.NODE_ENV !== 'production' && env.SCHEMA_WATCH && !flags['no-watch'];
const root = fileURLToPath(new URL('..', import.meta.url));
const routerPort = Number(process.env.ROUTER_PORT ?? 4000);
const readyTimeoutMs = 180_000;
// A process that has not drained its requests by then is killed.
const stopTimeoutMs = 10_000;

// Outside production, tokens from `npm run token` verify and subgraphs know the caller with nothing configured.
const developmentAuthentication = ((): NodeJS.ProcessEnv => {
  if (env.NODE_ENV === 'production') return {};
  const secrets = developmentSecrets(process.env.DATA_DIR ?? '.data');
  return {
    ...(process.env.AUTH_JWKS_URL ? {} : { AUTH_JWT_SECRET: secrets.jwtSecret }),
    INTERNAL_IDENTITY_SECRET: secrets.identitySecret,
  };
})();

// The bus this process serves its subgraphs when there is no Redis to share (see above).
const events = env.REDIS_URL
  ? null
  : (() => {
      const logger = createLogger({ service: 'event-bus', level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
      return { bus: new MemoryBus({ logger }), logger };
    })();

const children = new Map<string, ChildProcess>();
/** Subgraphs being restarted by hot reload: whoever awaits their readiness reports a failed start. */
const restarting = new Set<ChildProcess>();
let hotReload: HotReload | null = null;
let stopping = false;

function run(name: string, script: string, args: string[], env: NodeJS.ProcessEnv, { ipc = false } = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    stdio: ipc ? ['inherit', 'inherit', 'inherit', 'ipc'] : 'inherit',
    env: {
      LOG_PRETTY: 'true',
      SEED_IF_EMPTY: flags.scale ? 'scale' : 'small',
      ...developmentAuthentication,
      ...process.env,
      ...env,
    },
  });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    // Replaced by a restart, which stopped it on purpose.
    if (children.get(name) !== child) return;
    children.delete(name);
    if (stopping || restarting.has(child)) return;
    const how = signal ?? `code ${code}`;
    if (hotReload && name !== 'router') {
      console.error(`\n${name} exited (${how}); the rest of the graph keeps serving. Save a file to start it again.`);
      hotReload.restartOnNextChange(name);
      return;
    }
    console.error(`\n${name} exited (${how}); stopping the graph.`);
    void stop(1);
  });
  return child;
}

// Each port can be moved with `<NAME>_PORT`; the router is then pointed at it.
const services = subgraphs.map(({ name, port }) => ({
  name,
  port: Number(process.env[`${envPrefix(name)}_PORT`] ?? port),
}));

function runSubgraph(name: string): ChildProcess {
  const { port } = services.find((service) => service.name === name)!;
  const portEnv = { [`${envPrefix(name)}_PORT`]: String(port) };
  if (!events) return run(name, 'subgraphs/serve.ts', [name], portEnv);
  const child = run(name, 'subgraphs/serve.ts', [name], { ...portEnv, ...parentEventBusEnv }, { ipc: true });
  // Detaches by itself when the child exits; a restart by hot reload is served again here.
  serveEventBusOverIpc(events.bus, child, events.logger);
  return child;
}

/** Resolves once the service answers /health/ready; rejects on timeout, or if `child` exits first. */
async function waitUntilReady(name: string, port: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `it exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready; its log says why`,
      );
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} was not ready on port ${port} after ${readyTimeoutMs / 1000} s`);
}

/** SIGTERM, so the process finishes its in-flight requests; SIGKILL if it has not exited in time. */
function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
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
 * Restarts a subgraph in place on the code now on disk. Its embedded
 * database admits one process at a time (a directory lock), so the old
 * process drains and exits before the new one starts. Until the new one is
 * ready, a few seconds, requests that need this subgraph fail; the router
 * serves everything else as before.
 */
async function restartSubgraph(name: string): Promise<void> {
  const previous = children.get(name);
  if (previous) {
    children.delete(name);
    await terminate(previous);
  }
  if (stopping) throw new Error('the graph is stopping');
  const child = runSubgraph(name);
  restarting.add(child);
  try {
    await waitUntilReady(name, services.find((service) => service.name === name)!.port, child);
  } finally {
    restarting.delete(child);
  }
}

/** The id of the supergraph the router serves, from its readiness check (`serving <id>`). */
async function routerGraphId(): Promise<string | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${routerPort}/health/ready`);
    const body = (await response.json()) as { checks?: { supergraph?: { detail?: string } } };
    return /^serving (\S+)$/.exec(body.checks?.supergraph?.detail ?? '')?.[1] ?? null;
  } catch {
    return null;
  }
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Not awaited: a recomposition under way sees `stopping` and gives up.
  void hotReload?.close();
  await Promise.all([...children.values()].map(terminate));
  process.exit(code);
}

process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

for (const { name } of services) runSubgraph(name);
try {
  await Promise.all(services.map(({ name, port }) => waitUntilReady(name, port)));
  const routerEnv = Object.fromEntries([
    ['ROUTER_PORT', String(routerPort)],
    ...services.map(({ name, port }) => [`${envPrefix(name)}_SUBGRAPH_URL`, `http://127.0.0.1:${port}/graphql`]),
  ]);
  if (events) {
    // The router consumes events too: they purge its response cache.
    const router = run('router', 'router/src/main.ts', [], { ...routerEnv, ...parentEventBusEnv }, { ipc: true });
    serveEventBusOverIpc(events.bus, router, events.logger);
  } else {
    run('router', 'router/src/main.ts', [], routerEnv);
  }
  await waitUntilReady('router', routerPort);
  if (watchSchemas && !stopping) {
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
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await stop(1);
}

if (!stopping) {
  const width = Math.max(...services.map(({ name }) => name.length));
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
      '  Ctrl-C stops everything. Data persists in .data/ between runs.',
      '',
    ].join('\n'),
  );
}
