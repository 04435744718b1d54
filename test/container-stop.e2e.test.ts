import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../platform/src/composition/compose.ts';
import { postOnFreshConnection } from './support/fresh-connection.ts';
import { startTestSubgraph, type TestSubgraph } from './support/test-subgraph.ts';
import { readDockerfile } from './support/dockerfile.ts';
import { until } from './support/until.ts';

/**
 * `docker stop` sends SIGTERM to the container's PID 1 and, after the grace
 * period, SIGKILL. The service drains only if that signal reaches Node. No
 * Docker engine runs here, so this builds what the image's first stage
 * builds (`npm run build`: dist/, which the image copies over its /app) and
 * runs the Dockerfile's exact ENTRYPOINT and CMD in dist/, with the image's
 * ENV (but NODE_COMPILE_CACHE, which would write outside the test), sends
 * SIGTERM to the process started, as `docker stop` does to PID 1, and
 * requires the drain: readiness 503 "shutting down" while GraphQL is still
 * answered, then exit 0. With the CMD of old (`npm run start:router`), npm
 * ended and the router kept serving.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);

/** `npm run build`, as the image's first stage runs it. */
async function build(): Promise<void> {
  const result = await execFileAsync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'scripts/build.ts')], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (!existsSync(join(root, 'dist/router/src/main.js')))
    throw new Error(`npm run build wrote no router:\n${result.stdout}`);
}

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    echo(id: ID!): ID!
  }
`;

let subgraph: TestSubgraph | undefined;
let workdir: string | undefined;
let kill: (() => void) | undefined;

afterAll(async () => {
  kill?.();
  await subgraph?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

describe("the image's command", () => {
  const image = readDockerfile();

  it('runs Node itself, in exec form, under an init as PID 1', () => {
    // Node's own flags may come first; no shell or npm in between.
    expect(image.cmd[0]).toBe('node');
    // Plain Node on the build's JavaScript: no TypeScript loader in the image.
    expect(image.cmd.filter((arg) => !arg.startsWith('--max-semi-space-size='))).toEqual([
      'node',
      'router/src/main.js',
    ]);
    expect(image.entrypoint).toEqual(['/usr/bin/tini', '--']);
    expect(image.env.NODE_ENV).toBe('production');
  });

  it('drains on SIGTERM sent as `docker stop` sends it, then exits 0', async () => {
    subgraph = await startTestSubgraph('echo', sdl, { Query: { echo: (_: unknown, { id }: { id: string }) => id } });
    const outcome = composeSupergraph([{ name: 'echo', url: subgraph.url, sdl }]);
    if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
    workdir = await mkdtemp(join(tmpdir(), 'container-stop-'));
    const supergraphPath = join(workdir, 'supergraph.graphql');
    await writeFile(supergraphPath, outcome.supergraphSdl);

    // The init is run when this machine has it (Debian's tini, as the image installs); otherwise the CMD alone.
    const init = image.entrypoint[0];
    // CI installs it (.ci/run), so there the exact ENTRYPOINT and CMD always run.
    if (process.env.CI === 'true' && init && !existsSync(init))
      throw new Error(`${init} is missing; .ci/run installs it`);
    const argv = init && existsSync(init) ? [...image.entrypoint, ...image.cmd] : image.cmd;
    await build();
    console.log(`running ${JSON.stringify(argv)}${argv === image.cmd ? ` (no ${init} here)` : ''}`);
    const { NODE_COMPILE_CACHE: _written, ...imageEnv } = image.env;
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: join(root, 'dist'),
      // A container's environment: the image's ENV and what compose would give, nothing of this machine's but PATH.
      env: {
        PATH: process.env.PATH,
        HOME: tmpdir(),
        ...imageEnv,
        // Loopback and a free port, as every test server here; the image says 0.0.0.0 and 4000.
        HOST: '127.0.0.1',
        ROUTER_PORT: '0',
        METRICS_PORT: '0',
        SUPERGRAPH_PATH: supergraphPath,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    kill = () => child.kill('SIGKILL');
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const logs = () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);

    await until(() => logs().some((line) => line.msg === 'router ready') || child.exitCode !== null, {
      timeoutMs: 120_000,
      what: 'the router ready',
    });
    const ready = logs().find((line) => line.msg === 'router ready');
    expect(ready, output).toBeDefined();
    const url = ready!.url as string;
    const readiness = async () => {
      const response = await fetch(url.replace(/graphql$/, 'health/ready'));
      return { status: response.status, body: (await response.json()) as unknown };
    };
    const echo = async (id: string) => {
      const answer = await postOnFreshConnection(url, {
        query: 'query ($id: ID!) { echo(id: $id) }',
        variables: { id },
      });
      return answer.status === 200 && answer.body.trim() === JSON.stringify({ data: { echo: id } });
    };
    expect((await readiness()).status).toBe(200);
    expect(await echo('before')).toBe(true);

    // What `docker stop` does: SIGTERM to PID 1, the process the image's command started.
    child.kill('SIGTERM');
    await until(async () => (await readiness()).status === 503, { timeoutMs: 10_000, what: 'readiness 503' });
    expect(await readiness()).toEqual({
      status: 503,
      body: { status: 'not ready', phase: 'draining', checks: { shutdown: { ok: false, detail: 'shutting down' } } },
    });
    // Draining (5 s in production): still answering GraphQL.
    expect(await echo('while draining')).toBe(true);

    expect(await exit).toBe(0);
    const messages = logs().map((line) => line.msg);
    expect(messages).toContain('shutting down: not ready, still serving while draining');
    expect(messages).toContain('stopped');
    kill = undefined;
  }, 300_000);
});
