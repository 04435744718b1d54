/**
 * `npm start`: the whole graph on one machine with nothing installed. Each
 * subgraph runs as its own process on its embedded PGlite database (or on
 * Postgres where `<NAME>_DATABASE_URL` is set), migrated and seeded on first
 * run; the router starts once every subgraph is ready.
 *
 *   npm start                 small seed, quick to start
 *   npm start -- --scale      benchmark-sized seed on first run
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { envPrefix } from '../platform/src/config.ts';
import { subgraphs } from '../subgraphs/registry.ts';

const { values: flags } = parseArgs({ options: { scale: { type: 'boolean', default: false } } });
const root = fileURLToPath(new URL('..', import.meta.url));
const routerPort = Number(process.env.ROUTER_PORT ?? 4000);
const readyTimeoutMs = 180_000;

const children = new Map<string, ChildProcess>();
let stopping = false;

function run(name: string, script: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { LOG_PRETTY: 'true', SEED_IF_EMPTY: flags.scale ? 'scale' : 'small', ...process.env, ...env },
  });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (stopping) return;
    console.error(`\n${name} exited (${signal ?? `code ${code}`}); stopping the graph.`);
    void stop(1);
  });
  return child;
}

async function waitUntilReady(name: string, port: number): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
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

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const exits = [...children.values()].map(
    (child) =>
      new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve()))),
  );
  for (const child of children.values()) child.kill('SIGTERM');
  await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 10_000))]);
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(code);
}

process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

// Each port can be moved with `<NAME>_PORT`; the router is then pointed at it.
const services = subgraphs.map(({ name, port }) => ({
  name,
  port: Number(process.env[`${envPrefix(name)}_PORT`] ?? port),
}));
for (const { name, port } of services) {
  run(name, 'subgraphs/serve.ts', [name], { [`${envPrefix(name)}_PORT`]: String(port) });
}
try {
  await Promise.all(services.map(({ name, port }) => waitUntilReady(name, port)));
  run(
    'router',
    'router/src/main.ts',
    [],
    Object.fromEntries([
      ['ROUTER_PORT', String(routerPort)],
      ...services.map(({ name, port }) => [`${envPrefix(name)}_SUBGRAPH_URL`, `http://127.0.0.1:${port}/graphql`]),
    ]),
  );
  await waitUntilReady('router', routerPort);
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
      '  Ctrl-C stops everything. Data persists in .data/ between runs.',
      '',
    ].join('\n'),
  );
}
