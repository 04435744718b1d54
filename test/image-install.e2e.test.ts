import { execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { composeSupergraph } from '../platform/src/composition/compose.ts';
import { seedUser } from '../seed/world.ts';
import { readDockerfile } from './support/dockerfile.ts';
import { signalAndWait } from './support/process-tree.ts';
import { runProcess, type ServiceProcess } from './support/processes.ts';
import { copyRepository, type RepositoryCopy } from './support/repository-copy.ts';
import { signTestToken, testIdentitySecret, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * The image's second stage holds the production dependencies alone
 * (`npm ci --omit=dev`) with the build's dist/ copied over them, so a
 * service module that imports a devDependency works in every other test
 * and fails only in production. No Docker engine runs here: this does what
 * the Dockerfile's two stages do, in temporary folders, and runs the
 * services there as compose and the image run them, with plain `node`, a
 * container's environment and the embedded database: the release step
 * (migrate, seed), the accounts subgraph, and the router over it.
 *
 * dist/ is built in a copy of the repository, not in the checkout's own:
 * vitest runs up to two files at once, and test/container-stop.e2e.test.ts
 * builds the checkout's dist/ and runs the router from it; a second build
 * there would delete it under that router.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);
const image = readDockerfile();
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[] }>;
};
const accountsSdl = readFileSync(join(root, 'subgraphs/accounts/schema.graphql'), 'utf8');
// Compose gives every service Redis; under CI=true the global setup guarantees one.
const redisUrl = inject('redisUrl');
// Apart from every other graph on the shared test Redis.
const streamPrefix = `image-install-${randomUUID().slice(0, 8)}`;
const user = seedUser(0);

let copy: RepositoryCopy | undefined;
let workdir: string | undefined;
/** The image's /app: production dependencies, then dist/ over them. */
let app = '';
const running = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  copy?.remove();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

interface CommandResult {
  exitCode: number | string;
  output: string;
}

/** Runs a command to its end; never rejects, the result says how it ended. */
async function run(argv: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }) {
  try {
    const { stdout, stderr } = await execFileAsync(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: options.env,
      timeout: options.timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { exitCode: 0, output: stdout + stderr } satisfies CommandResult;
  } catch (error) {
    const failure = error as { code?: number | string; signal?: string; stdout?: string; stderr?: string };
    return {
      exitCode: failure.code ?? failure.signal ?? 'unknown',
      output: `${failure.stdout ?? ''}${failure.stderr ?? ''}`,
    } satisfies CommandResult;
  }
}

/**
 * A container's environment: the image's ENV and what compose would give,
 * nothing of this machine's but PATH. Loopback and free ports, as every
 * test server here; the image says 0.0.0.0 and fixed ports.
 */
function containerEnv(variables: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: workdir,
    ...image.env,
    // The image's is /tmp/node-compile-cache: kept inside this test's folder.
    NODE_COMPILE_CACHE: join(workdir!, 'node-compile-cache'),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...variables,
  };
}

/** What compose gives the subgraphs and the router alike (docker-compose.yml, x-identity-secret and Redis). */
function sharedEnv(): Record<string, string> {
  return {
    INTERNAL_IDENTITY_SECRET: testIdentitySecret,
    ...(redisUrl ? { REDIS_URL: redisUrl, EVENT_STREAM_PREFIX: streamPrefix } : {}),
  };
}
type Service = ServiceProcess;

/** Starts a long-running service in the image's /app, as the container's command. */
function startService(argv: string[], env: NodeJS.ProcessEnv): Service {
  const service = runProcess(argv, { cwd: app, env });
  running.add(service.child);
  service.child.once('exit', () => running.delete(service.child));
  return service;
}

/** The service's log line saying `msg`, once written; fails with its output if it exits first or never says it. */
async function logLine(service: Service, msg: string): Promise<Record<string, unknown>> {
  const line = () => service.logs().find((entry) => entry.msg === msg);
  try {
    await until(() => line() !== undefined || service.child.exitCode !== null, { timeoutMs: 60_000, what: msg });
  } catch (error) {
    throw new Error(`${(error as Error).message}; output so far:\n${service.output()}`, { cause: error });
  }
  const found = line();
  if (!found) throw new Error(`exited (${service.child.exitCode}) before "${msg}":\n${service.output()}`);
  return found;
}

/** Pino's levels from error up: a module that failed to load may be logged and survived. */
const errorsLogged = (service: Service) => service.logs().filter((entry) => Number(entry.level) >= 50);

async function postGraphQL(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as unknown };
}

const userQuery = 'query ($id: ID!) { user(id: $id) { id username } }';

describe("the image's production install", () => {
  let subgraph: Service | undefined;
  let subgraphUrl = '';
  let router: Service | undefined;

  it("builds dist/ as the image's first stage does", async () => {
    copy = await copyRepository();
    const build = await copy.npm('build');
    expect(build.exitCode, `${build.stdout}${build.stderr}`).toBe(0);
    expect(existsSync(join(copy.dir, 'dist/router/src/main.js'))).toBe(true);
  }, 300_000);

  it('installs the production dependencies alone and copies dist/ over them, as the second stage does', async () => {
    workdir = await mkdtemp(join(tmpdir(), 'image-install-'));
    app = join(workdir, 'app');
    await mkdir(app);
    for (const file of ['package.json', 'package-lock.json', 'patches'])
      await cp(join(copy!.dir, file), join(app, file), { recursive: true });
    // The image's ENV is set by then (NODE_ENV=production among it); the registry and npm's cache are this machine's.
    const install = await run(['npm', 'ci', '--omit=dev', '--no-audit', '--no-fund'], {
      cwd: app,
      env: { ...process.env, ...image.env, NODE_COMPILE_CACHE: join(workdir, 'node-compile-cache') },
      timeoutMs: 280_000,
    });
    if (install.exitCode !== 0)
      throw new Error(
        `npm ci --omit=dev failed (${install.exitCode}); it downloads from the npm registry, ` +
          `which must be reachable (or NPM_CONFIG_REGISTRY set):\n${install.output.slice(-4000)}`,
      );
    // Proof that what runs below has no dev tooling to lean on: no package only development needs is there.
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => entry.dev === true && path.startsWith('node_modules/'))
      .map(([path]) => path);
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/tsx', 'node_modules/typescript']));
    expect(devOnly.filter((path) => existsSync(join(app, path)))).toEqual([]);

    await cp(join(copy!.dir, 'dist'), app, { recursive: true });
    // The image's one writable folder: the embedded databases'.
    await mkdir(join(app, '.data'));
    expect(existsSync(join(app, 'router/src/main.js'))).toBe(true);
  }, 300_000);

  it("migrates and seeds the embedded database with compose's release step", async () => {
    // `sh -c 'node scripts/db.js migrate && node scripts/db.js seed --if-empty'`, each step for accounts alone.
    const [shell, flag, script] = compose.services.migrate!.command!;
    expect([shell, flag]).toEqual(['sh', '-c']);
    const steps = script!.split('&&').map((step) => [...step.trim().split(/\s+/), 'accounts']);
    expect(steps.map((step) => step.slice(0, 3))).toEqual([
      ['node', 'scripts/db.js', 'migrate'],
      ['node', 'scripts/db.js', 'seed'],
    ]);
    // No ACCOUNTS_DATABASE_URL: embedded PGlite, in /app/.data/accounts.
    for (const step of steps) {
      const result = await run(step, { cwd: app, env: containerEnv({}), timeoutMs: 120_000 });
      expect(result.exitCode, `${step.join(' ')}:\n${result.output}`).toBe(0);
    }
    expect(existsSync(join(app, '.data/accounts'))).toBe(true);
  }, 300_000);

  it("serves the accounts subgraph with compose's command", async () => {
    const command = compose.services.accounts!.command!;
    expect(command).toEqual(['node', 'subgraphs/serve.js', 'accounts']);
    subgraph = startService(command, containerEnv({ ...sharedEnv(), ACCOUNTS_PORT: '0', ACCOUNTS_METRICS_PORT: '0' }));
    const ready = await logLine(subgraph, 'subgraph ready');
    expect(ready.database).toBe('pglite');
    subgraphUrl = ready.url as string;
    // Production turns introspection off; a real field shows the seed and the loaders at work.
    expect(await postGraphQL(subgraphUrl, { query: userQuery, variables: { id: user.id } })).toEqual({
      status: 200,
      body: { data: { user: { id: user.id, username: user.username } } },
    });
  }, 120_000);

  it("serves the graph through the router run by the image's CMD, with a signed-in caller", async () => {
    expect(subgraphUrl, 'the subgraph did not start').not.toBe('');
    const composed = composeSupergraph([{ name: 'accounts', url: subgraphUrl, sdl: accountsSdl }]);
    if (!composed.ok) throw new Error(composed.errors.join('\n'));
    const supergraphPath = join(workdir!, 'supergraph.graphql');
    await writeFile(supergraphPath, composed.supergraphSdl);

    // The CMD alone: tini, the ENTRYPOINT, only passes signals on (test/container-stop.e2e.test.ts runs it).
    expect(image.cmd[0]).toBe('node');
    router = startService(
      image.cmd,
      containerEnv({
        ...sharedEnv(),
        ROUTER_PORT: '0',
        METRICS_PORT: '0',
        SUPERGRAPH_PATH: supergraphPath,
        AUTH_JWT_SECRET: testJwtSecret,
      }),
    );
    const ready = await logLine(router, 'router ready');
    // The viewer and the email reach the subgraph only as the identity the router signs and the subgraph verifies.
    const token = await signTestToken(testJwtSecret, user.id);
    const answer = await postGraphQL(
      ready.url as string,
      {
        query: 'query ($id: ID!) { user(id: $id) { id username } viewer { id email } }',
        variables: { id: user.id },
      },
      { authorization: `Bearer ${token}` },
    );
    expect(answer, router.output()).toEqual({
      status: 200,
      body: {
        data: { user: { id: user.id, username: user.username }, viewer: { id: user.id, email: user.email } },
      },
    });
  }, 120_000);

  it('stops the router, then the subgraph, on SIGTERM with exit 0, having logged no error', async () => {
    for (const [name, service] of [
      ['router', router],
      ['accounts subgraph', subgraph],
    ] as const) {
      expect(service, `the ${name} did not start`).toBeDefined();
      // Production drains for 5 s before it stops.
      const exit = await signalAndWait(service!.child, 'SIGTERM', 30_000);
      expect(exit, `${name}:\n${service!.output()}`).toBe(0);
      expect(errorsLogged(service!), name).toEqual([]);
      expect(service!.logs().map((entry) => entry.msg)).toContain('stopped');
    }
  }, 120_000);
});
