/**
 * `npm run bench:start`: how long the production build takes from process
 * start to ready. Builds dist/ (`npm run build`), then starts the router and
 * two subgraphs on a migrated database as the image runs them (plain
 * `node`, working directory dist/, a container's environment), one process
 * at a time, timing each from spawn to its ready log line, and stops each
 * with SIGTERM. See the "Cold start" section of docs/benchmarks.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { envPrefix } from '../platform/src/config.ts';
import { startPostgres } from '../test/services.ts';
import { describeMachine, type Machine } from './lib/machine.ts';
import { onCleanup, repoRoot, startProcess, type ManagedProcess } from './lib/processes.ts';
import { sampleProcess, type ProcessSample } from './lib/proc-stats.ts';
import { runSibling } from './lib/sibling.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

const usage = `Usage: npm run bench:start -- [options]

Builds dist/ (npm run build), then times the production build's start, from
spawn to ready, of the router and of the inventory and products subgraphs
on a migrated Postgres: one unmeasured warm-up start each, then --runs
measured, taking turns. Stops each with SIGTERM.

  --runs <n>        measured starts of each (default 7)
  --node <path>     also with this Node binary, in rows of its own (repeatable)
  --no-build        use the dist/ already there instead of running npm run build
  --no-write-docs   print the table only; leave docs/benchmarks.md as it is
  --help            this text
`;

/** Judged by the median start. */
const targetMs = { router: 1_000, subgraph: 1_000 };
/** The subgraphs started against the migrated database. */
const subgraphNames = ['inventory', 'products'] as const;
const dist = join(repoRoot, 'dist');
/** Paths inside dist/, the image's working directory. */
const entries = {
  router: 'router/src/main.js',
  subgraphs: 'subgraphs/serve.js',
  migrator: 'scripts/db.js',
  supergraph: 'schema/supergraph.graphql',
  trustedDocuments: 'operations/__generated__/persisted-documents.json',
};
/** A bound on every wait. */
const timeouts = {
  buildMs: 10 * 60_000,
  migrateMs: 2 * 60_000,
  probeMs: 10_000,
  readyMs: 60_000,
  healthMs: 5_000,
  /** From SIGTERM to SIGKILL. */
  stopGraceMs: 15_000,
};

interface ColdStartOptions {
  runs: number;
  /** Other Node binaries, each measured as the runner's own is. */
  nodes: string[];
  build: boolean;
  writeDocs: boolean;
}

function parseOptions(argv: string[]): ColdStartOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      node: { type: 'string', multiple: true },
      'no-build': { type: 'boolean', default: false },
      'no-write-docs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const runs = Number(values.runs ?? 7);
  if (!Number.isInteger(runs) || runs <= 0) throw new Error(`--runs: expected a positive integer, got ${values.runs}`);
  const nodes = values.node ?? [];
  for (const node of nodes) if (!existsSync(node)) throw new Error(`--node: ${node} does not exist`);
  return { runs, nodes, build: !values['no-build'], writeDocs: !values['no-write-docs'] };
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/**
 * A container's environment: the image's ENV and what a deployment sets,
 * nothing of the runner's but PATH (as test/container-stop.e2e.test.ts
 * does). Above all no NODE_OPTIONS from tsx, which would load it into the
 * services.
 */
function containerEnv(env: Record<string, string>): Record<string, string | undefined> {
  const cleared = Object.fromEntries(Object.keys(process.env).map((name) => [name, undefined]));
  return { ...cleared, PATH: process.env.PATH, HOME: tmpdir(), NODE_ENV: 'production', ...env };
}

/**
 * Starts `argv` in dist/, as the image's /app. bench/lib/processes.ts runs
 * everything from the repository's root, so `env --chdir` changes
 * directory and execs the program: the pid and the process group stay the
 * program's own, and the exec is part of every figure, the floor's too.
 */
function startInDist(name: string, argv: string[], env: Record<string, string | undefined>): ManagedProcess {
  return startProcess({ name, command: ['env', `--chdir=${dist}`, ...argv], env, core: null });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The end of a process's output, each line cut short: a bundle's syntax error prints a whole minified line. */
function tailOf(handle: ManagedProcess): string {
  return handle
    .output()
    .split('\n')
    .slice(-30)
    .map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line))
    .join('\n');
}

/** Runs a process to its end; fails, with its output, unless it exits 0 within `timeoutMs`. */
async function runToExit(handle: ManagedProcess, timeoutMs: number): Promise<string> {
  try {
    const code = await withTimeout(handle.exited, timeoutMs, `${handle.name} to finish`);
    if (code !== 0) throw new Error(`${handle.name} exited with ${code}`);
    return handle.output();
  } catch (error) {
    await handle.stop();
    throw new Error(`${(error as Error).message}:\n${tailOf(handle)}`, { cause: error });
  }
}

// ---------------------------------------------------------------------------
// One start
// ---------------------------------------------------------------------------

interface Service {
  /** `router`, a subgraph's name, or the floor. */
  name: string;
  kind: 'router' | 'subgraph' | 'floor';
  argv(node: string): string[];
  env: Record<string, string | undefined>;
  /** The `msg` of the log line that says it is ready; null: ready is its exit (the floor). */
  readyMessage: string | null;
}

interface LogLine {
  /** Its first line. */
  msg: string;
  /** From spawn to the runner reading it. */
  atMs: number;
  fields: Record<string, unknown>;
}

interface Start {
  readyMs: number;
  /**
   * CPU time and peak memory at the ready line; null for the floor, which
   * has exited. The CPU time leaves out waiting for a core, which the
   * wall-clock time includes when other work shares the machine.
   */
  atReady: ProcessSample | null;
  /** What it logged up to and including its ready line. */
  lines: LogLine[];
}

/**
 * Spawns the service and times it to its ready line, then requires
 * `/health/ready` to answer 200 and the process to exit 0 on SIGTERM. The
 * line is written in the same tick as the service's lifecycle turns ready,
 * which is when `/health/ready` starts answering 200: timing it needs no
 * poller, with its granularity and its load on the machine.
 */
async function startOnce(
  service: Service,
  node: string,
  env: Record<string, string | undefined>,
  label: string,
): Promise<Start> {
  const lines: LogLine[] = [];
  let ready: LogLine | null = null;
  let atReady: ProcessSample | null = null;
  let exitedMs: number | null = null;
  let notify = () => {};
  const readyOrExited = new Promise<void>((resolve) => (notify = resolve));
  const spawnedAt = performance.now();
  const handle = startInDist(`${service.name} (${label})`, service.argv(node), { ...service.env, ...env });
  let partial = '';
  handle.child.stdout!.on('data', (chunk: Buffer) => {
    const atMs = performance.now() - spawnedAt;
    const complete = (partial + chunk.toString('utf8')).split('\n');
    partial = complete.pop()!;
    for (const text of complete) {
      if (ready || !text.startsWith('{')) continue;
      let fields: Record<string, unknown>;
      try {
        fields = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      const line = { msg: String(fields.msg ?? '').split('\n')[0]!, atMs, fields };
      lines.push(line);
      if (line.msg === service.readyMessage) {
        ready = line;
        atReady = sampleProcess(handle.pid);
        notify();
      }
    }
  });
  void handle.exited.then(() => {
    exitedMs = performance.now() - spawnedAt;
    notify();
  });
  try {
    await withTimeout(readyOrExited, timeouts.readyMs, `${handle.name} to be ready`);
    if (service.readyMessage === null) {
      const code = await handle.exited;
      if (code !== 0) throw new Error(`${handle.name} exited with ${code}`);
      return { readyMs: exitedMs!, atReady: null, lines };
    }
    const readyLine = ready as LogLine | null;
    if (!readyLine) throw new Error(`${handle.name} exited (code ${await handle.exited}) before it was ready`);
    const url = String(readyLine.fields.url).replace(/\/graphql$/, '/health/ready');
    const health = await fetch(url, { signal: AbortSignal.timeout(timeouts.healthMs) });
    const body = await health.text();
    if (health.status !== 200) throw new Error(`${url} answered ${health.status}: ${body}`);
    await handle.stop(timeouts.stopGraceMs);
    const code = await handle.exited;
    if (code !== 0) throw new Error(`${handle.name} exited with ${code} on SIGTERM`);
    return { readyMs: readyLine.atMs, atReady, lines };
  } catch (error) {
    await handle.stop();
    throw new Error(`${(error as Error).message}\n${handle.name} output:\n${tailOf(handle)}`, { cause: error });
  }
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

interface NodeBinary {
  path: string;
  version: string;
  /** Node 22.1+ reads NODE_COMPILE_CACHE; older versions ignore it. */
  compileCache: boolean;
}

/**
 * The image sets NODE_COMPILE_CACHE to a folder in the container. A new
 * container (a rollout, a scale-up) starts with it empty; a restarted one
 * finds what its previous start wrote at exit. `off` leaves it unset, to
 * tell the cache's share from the Node version's. `none`: a Node without a
 * compile cache, or the floor, which compiles nothing of ours.
 */
type CompileCache = 'off' | 'empty' | 'kept' | 'none';

const cacheLabels: Record<CompileCache, string> = {
  off: 'off (unset)',
  empty: 'empty: a new container',
  kept: 'kept: a restarted container',
  none: '—',
};

interface Row {
  service: Service;
  node: NodeBinary;
  cache: CompileCache;
  /** For `kept`: the folder every start of the row shares. */
  cacheDir: string | null;
  starts: Start[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const medianReady = (row: Row) => median(row.starts.map((start) => start.readyMs));

/** Lines logged within this of the ready line are left out of the breakdown: they tell nothing apart. */
const phaseGapMs = 5;

/**
 * The log lines that every start of the row wrote, each at its median time
 * from spawn, in order: those more than `phaseGapMs` before the ready line,
 * then the ready line.
 */
function phases(row: Row): Array<{ msg: string; medianMs: number }> {
  const messages = [...new Set(row.starts[0]!.lines.map((line) => line.msg))].filter((msg) =>
    row.starts.every((start) => start.lines.some((line) => line.msg === msg)),
  );
  const timed = messages.map((msg) => ({
    msg,
    medianMs: median(row.starts.map((start) => start.lines.find((line) => line.msg === msg)!.atMs)),
  }));
  const ready = timed.find((phase) => phase.msg === row.service.readyMessage)!;
  return [...timed.filter((phase) => phase.medianMs < ready.medianMs - phaseGapMs), ready].sort(
    (a, b) => a.medianMs - b.medianMs,
  );
}

/** The router's `query plans ready for the trusted operations` lines, over a row's starts. */
function planning(row: Row): { operations: number; planned: number; failed: number; medianMs: number } {
  const reports = row.starts.map(
    (start) => start.lines.find((line) => line.msg === 'query plans ready for the trusted operations')?.fields ?? {},
  );
  return {
    operations: Math.min(...reports.map((each) => Number(each.operations ?? 0))),
    planned: Math.min(...reports.map((each) => Number(each.planned ?? 0))),
    failed: Math.max(...reports.map((each) => Number(each.failed ?? 0))),
    medianMs: median(reports.map((each) => Number(each.ms ?? NaN))),
  };
}

interface Facts {
  command: string;
  machine: Machine;
  options: ColdStartOptions;
  rows: Row[];
  buildSeconds: number | null;
  routerEntryKiB: number;
  distFiles: number;
  migrateSeconds: number;
  wallSeconds: number;
}

function renderReport(facts: Facts): string {
  const { machine, options, rows } = facts;
  const ms = (value: number) => Math.round(value).toLocaleString('en-US');
  const plans = planning(rows.find((row) => row.service.kind === 'router')!);
  const services = rows.filter((row) => row.service.kind !== 'floor');
  const targetOf = (row: Row) => (row.service.kind === 'floor' ? null : targetMs[row.service.kind]);
  const table = rows.map((row) => {
    const samples = row.starts.map((start) => start.readyMs);
    const target = targetOf(row);
    const verdict = target === null ? '' : `≤ ${ms(target)} ${medianReady(row) <= target ? '✓' : '✗'}`;
    const atReady = row.starts.flatMap((start) => (start.atReady ? [start.atReady] : []));
    const cpu = atReady.length > 0 ? ms(median(atReady.map((each) => each.cpuMs))) : '';
    const rss = atReady.length > 0 ? ms(median(atReady.map((each) => each.peakRssBytes)) / 2 ** 20) : '';
    return (
      `| ${row.service.name} | ${row.node.version} | ${cacheLabels[row.cache]} | ${samples.length} | ` +
      `${ms(Math.min(...samples))} | **${ms(medianReady(row))}** | ${ms(Math.max(...samples))} | ` +
      `${verdict} | ${cpu} | ${rss} |`
    );
  });
  const breakdown = services.map(
    (row) =>
      `- ${row.service.name}, Node ${row.node.version}${row.cache === 'none' ? '' : `, compile cache ${row.cache}`}: ` +
      phases(row)
        .map((phase) => `${ms(phase.medianMs)} \`${phase.msg}\``)
        .join(' → '),
  );
  const missed = services
    .filter((row) => medianReady(row) > targetOf(row)!)
    .map(
      (row) =>
        `${row.service.name} on ${row.node.version}${row.cache === 'none' ? '' : ` (compile cache ${row.cache})`} ` +
        `${ms(medianReady(row))} ms`,
    );
  return [
    `Measured ${machine.date} with \`${facts.command}\` (${(facts.wallSeconds / 60).toFixed(1)} min).`,
    '',
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}; ` +
      `runner on Node ${machine.node}` +
      (machine.busyBeforeRun === null
        ? '.'
        : `; ${(machine.busyBeforeRun * 100).toFixed(0)} % busy just before the run.`),
    `- Build: ${
      facts.buildSeconds === null
        ? 'the dist/ already there (`--no-build`)'
        : `\`npm run build\` in ${facts.buildSeconds.toFixed(1)} s`
    }; dist/ holds ${facts.distFiles.toLocaleString('en-US')} files, the router's entry ` +
      `\`${entries.router}\` ${ms(facts.routerEntryKiB)} KiB.`,
    `- Router: trusted documents \`enforce\`, ${plans.operations} operations (${plans.planned} plans) planned before ` +
      `ready in ${ms(plans.medianMs)} ms (median), ${plans.failed} failed ` +
      `${plans.operations > 0 && plans.failed === 0 ? '✓' : '✗'}.`,
    `- Subgraphs: ${subgraphNames.join(' and ')}, each on its own Postgres database, migrated once ` +
      `(\`node ${entries.migrator} migrate\`, ${facts.migrateSeconds.toFixed(1)} s) and empty.`,
    `- Each row: 1 warm-up start, then ${options.runs} measured, the rows taking turns; after every start ` +
      `\`/health/ready\` answered 200 and SIGTERM ended it with exit 0.`,
    '',
    '| service | Node | compile cache | starts | min ms | median ms | max ms | target ms | CPU ms at ready | peak RSS MiB at ready |',
    '| --- | --- | --- | --: | --: | --: | --: | --: | --: | --: |',
    ...table,
    '',
    `Where the time goes: median ms from spawn to each log line written more than ${phaseGapMs} ms before the ready one, ` +
      'and to the ready one. Before its first line a service has loaded all its modules (a subgraph has also ' +
      'connected to its database).',
    '',
    ...breakdown,
    '',
    `Targets by the median, router ≤ ${ms(targetMs.router)} ms and subgraph ≤ ${ms(targetMs.subgraph)} ms: ` +
      `${services.length - missed.length} of ${services.length} rows meet theirs` +
      (missed.length === 0 ? ' ✓.' : `; missed by ${missed.join(', ')} ✗.`),
  ].join('\n');
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/** Its version, and whether it has a compile cache (module.enableCompileCache, Node 22.1+). */
async function probeNode(path: string): Promise<NodeBinary> {
  const output = await runToExit(
    startProcess({
      name: `${path} (version)`,
      command: [path, '-p', "process.version + ' ' + typeof require('node:module').enableCompileCache"],
      env: { NODE_OPTIONS: undefined },
      core: null,
    }),
    timeouts.probeMs,
  );
  const [version, cacheType] = output.trim().split(' ');
  if (!version || !/^v\d+\.\d+\.\d+/.test(version)) throw new Error(`${path}: no version in ${JSON.stringify(output)}`);
  return { path, version, compileCache: cacheType === 'function' };
}

async function run(options: ColdStartOptions, command: string): Promise<{ report: string }> {
  const started = performance.now();
  const machine = await describeMachine();
  const workDir = mkdtempSync(join(tmpdir(), 'bench-start-'));
  onCleanup(async () => rmSync(workDir, { recursive: true, force: true }));

  let buildSeconds: number | null = null;
  if (options.build) {
    log('npm run build');
    const building = performance.now();
    await runToExit(
      startProcess({ name: 'npm run build', command: ['npm', 'run', 'build'], core: null }),
      timeouts.buildMs,
    );
    buildSeconds = (performance.now() - building) / 1000;
  }
  for (const path of Object.values(entries))
    if (!existsSync(join(dist, path)))
      throw new Error(`dist/${path} is missing: run npm run build (or drop --no-build)`);
  const distFiles = readdirSync(dist, { recursive: true }).length;
  const routerEntryKiB = statSync(join(dist, entries.router)).size / 1024;

  const nodes = [await probeNode(process.execPath), ...(await Promise.all(options.nodes.map(probeNode)))];
  log(`node: ${nodes.map((node) => `${node.version} (${node.path})`).join(', ')}`);

  const server = await startPostgres();
  onCleanup(() => server.stop());
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  try {
    for (const name of subgraphNames) await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const databaseUrl = (name: string) => server.adminUrl.replace(/\/postgres$/, `/${name}`);
  // The release step, with the build's own migrator.
  const migrating = performance.now();
  await runToExit(
    startInDist(
      'migrate',
      [process.execPath, entries.migrator, 'migrate', ...subgraphNames],
      containerEnv({
        ...Object.fromEntries(subgraphNames.map((name) => [`${envPrefix(name)}_DATABASE_URL`, databaseUrl(name)])),
        LOG_LEVEL: 'warn',
      }),
    ),
    timeouts.migrateMs,
  );
  const migrateSeconds = (performance.now() - migrating) / 1000;
  log(`migrated ${subgraphNames.join(', ')} in ${migrateSeconds.toFixed(1)} s`);

  // Shared by the router and the subgraphs, as in a graph; its value plays no part in the start.
  const identitySecret = randomBytes(48).toString('base64url');
  // Not production's 5 s: the drain only lengthens the stop, which is not measured.
  const stopAtOnce = { SHUTDOWN_DRAIN_SECONDS: '0' };
  const services: Service[] = [
    {
      name: 'router',
      kind: 'router',
      argv: (node) => [node, '--max-semi-space-size=64', entries.router],
      env: containerEnv({
        HOST: '127.0.0.1',
        ROUTER_PORT: '0',
        METRICS_PORT: '0',
        SUPERGRAPH_PATH: join(dist, entries.supergraph),
        // Every trusted operation is planned before the router is ready.
        TRUSTED_DOCUMENTS: 'enforce',
        TRUSTED_DOCUMENTS_PATH: join(dist, entries.trustedDocuments),
        AUTH_JWT_SECRET: randomBytes(48).toString('base64url'),
        INTERNAL_IDENTITY_SECRET: identitySecret,
        LOG_LEVEL: 'info',
        ...stopAtOnce,
      }),
      readyMessage: 'router ready',
    },
    ...subgraphNames.map((name): Service => ({
      name,
      kind: 'subgraph',
      argv: (node) => [node, entries.subgraphs, name],
      env: containerEnv({
        HOST: '127.0.0.1',
        [`${envPrefix(name)}_PORT`]: '0',
        [`${envPrefix(name)}_METRICS_PORT`]: '0',
        [`${envPrefix(name)}_DATABASE_URL`]: databaseUrl(name),
        // Production's default, said aloud: the release step migrated it.
        MIGRATE_ON_START: 'false',
        INTERNAL_IDENTITY_SECRET: identitySecret,
        LOG_LEVEL: 'info',
        ...stopAtOnce,
      }),
      readyMessage: 'subgraph ready',
    })),
    {
      name: 'floor: `node -e 0`',
      kind: 'floor',
      argv: (node) => [node, '-e', '0'],
      env: containerEnv({}),
      readyMessage: null,
    },
  ];
  const rows: Row[] = nodes.flatMap((node) =>
    services.flatMap((service): Row[] => {
      const caches: CompileCache[] =
        node.compileCache && service.kind !== 'floor' ? ['off', 'empty', 'kept'] : ['none'];
      return caches.map((cache) => ({
        service,
        node,
        cache,
        cacheDir: cache === 'kept' ? mkdtempSync(join(workDir, 'compile-cache-')) : null,
        starts: [],
      }));
    }),
  );
  // The image's NODE_COMPILE_CACHE: a new, empty folder for every start but the kept ones, as a new container has.
  const compileCacheOf = (row: Row) =>
    row.cache === 'off' ? undefined : (row.cacheDir ?? mkdtempSync(join(workDir, 'compile-cache-')));
  const startRow = (row: Row, label: string) =>
    startOnce(
      row.service,
      row.node.path,
      { NODE_COMPILE_CACHE: compileCacheOf(row) },
      `${row.node.version}, cache ${row.cache}, ${label}`,
    );
  const rowName = (row: Row) => `${row.service.name} on ${row.node.version} (compile cache ${row.cache})`;

  // The warm-up start reads the files into the OS file cache (and fills a kept compile cache).
  for (const row of rows) log(`${rowName(row)}: warm-up ${(await startRow(row, 'warm-up')).readyMs.toFixed(0)} ms`);
  for (let index = 0; index < options.runs; index++)
    for (const row of rows) {
      const start = await startRow(row, `${index + 1}/${options.runs}`);
      row.starts.push(start);
      log(`${rowName(row)}: ${index + 1}/${options.runs} ${start.readyMs.toFixed(0)} ms`);
    }
  for (const row of rows.filter((each) => each.service.kind === 'router')) {
    const plans = planning(row);
    if (plans.operations === 0 || plans.failed > 0)
      throw new Error(`${rowName(row)} planned ${plans.operations} trusted operations, ${plans.failed} failed`);
  }

  return {
    report: renderReport({
      command,
      machine,
      options,
      rows,
      buildSeconds,
      routerEntryKiB,
      distFiles,
      migrateSeconds,
      wallSeconds: (performance.now() - started) / 1000,
    }),
  };
}

await runSibling({ script: 'bench:start', usage, parseOptions, run });
