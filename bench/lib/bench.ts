/**
 * The run: start the graphs once, then rounds in which every contender is
 * started (one at a time, on the gateway core), serves each of its
 * workloads in turn, and is stopped. Contender order rotates by round, so
 * slow drift of the machine (thermal, noisy neighbours) spreads over all.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contenders, type Contender, type ContenderName, type LaunchContext } from '../contenders/index.ts';
import { startShopGraph, type RunningShop } from '../shop/graph.ts';
import { startBenchGraph, type RunningGraph } from '../subgraphs/graph.ts';
import { workloads, type ShopIds, type Workload, type WorkloadName } from '../workloads/index.ts';
import { Callers } from './callers.ts';
import { fetchForCheck, measureCell, type CellSettings } from './cell.ts';
import { describeDifferences } from './compare.ts';
import { waitForGraphQL } from './graphql.ts';
import { describeMachine } from './machine.ts';
import type { BenchOptions } from './options.ts';
import { commandLine } from './proc-stats.ts';
import { choosePlacement, onCleanup, pinSelf, startProcess } from './processes.ts';
import { freePorts } from '../../test/support/processes.ts';
import { Results, type RunFacts } from './results.ts';
import { TokenPool } from './tokens.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

export async function runBench(options: BenchOptions, command: string): Promise<{ results: Results; facts: RunFacts }> {
  const started = performance.now();
  const machine = await describeMachine();
  const placement = choosePlacement();
  // Before anything starts: children (subgraphs, Postgres) inherit the runner's core.
  if (placement.pinned) pinSelf(placement.supportCore!);
  log(`placement: ${placement.note}`);

  const workDir = mkdtempSync(join(tmpdir(), 'bench-'));
  onCleanup(async () => rmSync(workDir, { recursive: true, force: true }));

  const selected = options.workloads
    .map((name) => workloads[name])
    .filter((workload) => workload.contenders.some((name) => options.contenders.includes(name)));
  const graphsNeeded = new Set(selected.map((workload) => workload.graph));

  const tokens = new TokenPool();
  // Shared by our router and the shop subgraphs (INTERNAL_IDENTITY_SECRET); see LaunchContext.
  const identitySecret = randomBytes(48).toString('base64url');
  const settings: Settings = {
    connections: options.connections,
    warmupSeconds: options.warmupSeconds,
    durationSeconds: options.durationSeconds,
    jwtSecret: tokens.secret,
    identitySecret,
    anyone: new Callers(tokens, null),
    signedIn: null,
  };

  const graphs: Partial<Record<Workload['graph'], RunningGraph>> = {};
  let shop: RunningShop | null = null;
  if (graphsNeeded.has('bench')) {
    graphs.bench = await startBenchGraph({ core: placement.supportCore, workDir });
    log('benchmark subgraphs ready');
  }
  if (graphsNeeded.has('shop')) {
    shop = await startShopGraph({ size: options.shopSize, core: placement.supportCore, workDir, identitySecret, log });
    graphs.shop = shop;
    const { userIds } = shop.seededUsers;
    log(`shop graph ready (product ${shop.ids.productId}; ${userIds.length} users with orders, first ${userIds[0]})`);
  }
  const shopIds: ShopIds | null = shop?.ids ?? null;
  // Kept across rounds, so their warm-up tokens are minted once, like `anyone`'s.
  const signedIn = new Map(
    Object.values(graphs).flatMap((graph) =>
      graph.seededUsers ? [[graph, new Callers(tokens, graph.seededUsers)] as const] : [],
    ),
  );

  const results = new Results();
  for (let round = 0; round < options.rounds; round++) {
    for (const graphName of ['bench', 'shop'] as const) {
      const graph = graphs[graphName];
      const graphWorkloads = selected.filter((workload) => workload.graph === graphName);
      if (!graph || graphWorkloads.length === 0) continue;
      const names = options.contenders.filter((name) => graphWorkloads.some((w) => w.contenders.includes(name)));
      const graphSettings = { ...settings, signedIn: signedIn.get(graph) ?? null };
      const context = {
        placement,
        settings: graphSettings,
        results,
        shopIds,
        echo: options.echo,
        profileDir: options.profileDir,
      };
      for (const name of rotate(names, round)) {
        const mine = graphWorkloads.filter((workload) => workload.contenders.includes(name));
        for (const group of launchGroups(name, mine, graph)) await runContender(name, group, graph, round, context);
      }
    }
  }

  const facts: RunFacts = {
    command,
    machine,
    placement: placement.note,
    options,
    shopSeedSeconds: shop?.seedSeconds ?? null,
    signedInUsers: selected.some((workload) => workload.signedIn) ? (shop?.seededUsers.userIds.length ?? null) : null,
    wallSeconds: (performance.now() - started) / 1000,
  };
  return { results, facts };
}

/** Settings for every cell on one graph, and who requests come from (see Callers). */
interface Settings extends Omit<CellSettings, 'callers'> {
  /** What the tokens are signed with. */
  jwtSecret: string;
  identitySecret: string;
  /** A caller of its own for every request. */
  anyone: Callers;
  /** The graph's seeded users, for signed-in workloads; null where the graph has none. */
  signedIn: Callers | null;
}

function callersFor(workload: Workload, contender: Contender, settings: Settings): Callers {
  if (!workload.signedIn) return settings.anyone;
  if (!settings.signedIn) throw new Error(`${workload.name} needs a graph with seeded users`);
  return contender.measuresCacheHits ? settings.signedIn.narrowedTo(settings.connections) : settings.signedIn;
}

function launchContext(
  graph: RunningGraph,
  { jwtSecret, identitySecret }: Pick<Settings, 'jwtSecret' | 'identitySecret'>,
  port: number,
  workloads: Workload[],
): LaunchContext {
  return {
    supergraphPath: graph.supergraphPath,
    port,
    jwtSecret,
    identitySecret,
    signedIn: workloads.some((workload) => workload.signedIn),
  };
}

/**
 * A contender is started once per round for all its workloads on a graph,
 * unless some of them need it started differently (`ours-cache-hit`
 * verifies tokens only where the answer is the caller's own): then once
 * per distinct launch, in the workloads' order.
 */
function launchGroups(name: ContenderName, mine: Workload[], graph: RunningGraph): Workload[][] {
  const groups = new Map<string, Workload[]>();
  const placeholders = { jwtSecret: '', identitySecret: '' };
  for (const workload of mine) {
    const key = JSON.stringify(contenders[name].launch(launchContext(graph, placeholders, 0, [workload])));
    groups.set(key, [...(groups.get(key) ?? []), workload]);
  }
  return [...groups.values()];
}

interface RunContext {
  placement: ReturnType<typeof choosePlacement>;
  settings: Settings;
  results: Results;
  shopIds: ShopIds | null;
  echo: boolean;
  profileDir: string | null;
}

async function runContender(
  name: ContenderName,
  mine: Workload[],
  graph: RunningGraph,
  round: number,
  { placement, settings, results, shopIds, echo, profileDir }: RunContext,
): Promise<void> {
  const contender = contenders[name];
  const [port] = await freePorts(1);
  const launch = contender.launch(launchContext(graph, settings, port!, mine));
  // V8 writes the profile when the process exits, which a gateway does on the SIGTERM that ends its round.
  if (profileDir)
    launch.command.splice(1, 0, '--cpu-prof', `--cpu-prof-dir=${join(profileDir, `${name}-r${round + 1}`)}`);
  const url = `http://127.0.0.1:${port}/graphql`;
  const gateway = startProcess({
    name,
    command: launch.command,
    env: launch.env,
    core: placement.gatewayCore,
    ipc: false,
    echo,
  });
  try {
    const startedAt = performance.now();
    const [probe] = await settings.anyone.take(1);
    await waitForGraphQL(url, settings.anyone.headers(probe!), () => !gateway.hasExited(), 90_000);
    const argv = commandLine(gateway.pid);
    // The pid measured must be the gateway's Node process, not a wrapper around it.
    if (argv[0] !== process.execPath) throw new Error(`pid ${gateway.pid} runs ${argv[0]}, not node`);
    log(
      `[round ${round + 1}] ${name} ready in ${((performance.now() - startedAt) / 1000).toFixed(1)} s (pid ${gateway.pid})`,
    );

    for (const [index, workload] of mine.entries()) {
      // A fresh process has cold JIT and empty connection pools; its first workload warms up twice as long.
      const cellSettings: CellSettings = {
        connections: settings.connections,
        warmupSeconds: index === 0 ? settings.warmupSeconds * 2 : settings.warmupSeconds,
        durationSeconds: settings.durationSeconds,
        callers: callersFor(workload, contender, settings),
      };
      await runWorkload(workload, {
        url,
        pid: gateway.pid,
        graph,
        round,
        name,
        settings: cellSettings,
        results,
        shopIds,
      });
    }
  } catch (error) {
    const reason = `${(error as Error).message}\n${gateway.output().slice(-2_000)}`.trim();
    log(`[round ${round + 1}] ${name} failed: ${reason}`);
    const lastLine = gateway.output().trim().split('\n').at(-1)?.slice(0, 200);
    const summary = lastLine ? `${(error as Error).message} (last output: ${lastLine})` : (error as Error).message;
    for (const workload of mine) results.fail(workload.name, name, round, summary);
  } finally {
    // A profiled process exits only after its graceful stop (drain included), and writes its profile then.
    await gateway.stop(profileDir ? 60_000 : undefined);
  }
}

async function runWorkload(
  workload: Workload,
  context: {
    url: string;
    pid: number;
    graph: RunningGraph;
    round: number;
    name: ContenderName;
    settings: CellSettings;
    results: Results;
    shopIds: ShopIds | null;
  },
): Promise<void> {
  const { url, pid, graph, round, name, settings, results } = context;
  const target = { url, pid, graph, contender: contenders[name], operation: workload.operation(context.shopIds) };
  await graph.setDelay(workload.subgraphDelayMs);
  const started = performance.now();
  try {
    if (round === 0) check(workload.name, name, await fetchForCheck(target, settings.callers), results);
    const measurement = await measureCell(target, settings, round);
    results.add(workload.name, name, measurement);
    log(
      `[round ${round + 1}] ${workload.name.padEnd(12)} ${name.padEnd(19)} ` +
        `${measurement.requestsPerSecond.toFixed(1).padStart(8)} req/s  ` +
        `${(measurement.cpuMs / measurement.completed).toFixed(2).padStart(6)} ms CPU/req  ` +
        `${(measurement.subgraphRequests / measurement.completed).toFixed(1).padStart(5)} subgraph req/op  ` +
        `${measurement.non2xx + measurement.errors + measurement.graphqlErrors} errors  ` +
        `(cell ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
  } catch (error) {
    log(`[round ${round + 1}] ${workload.name} ${name} failed: ${(error as Error).message}`);
    results.fail(workload.name, name, round, (error as Error).message);
  }
}

/** The first contender to answer a workload (the baseline, which runs first) sets the expected answer. */
function check(
  workload: WorkloadName,
  name: ContenderName,
  answers: Awaited<ReturnType<typeof fetchForCheck>>,
  results: Results,
) {
  const reference = results.reference(workload);
  const problems: string[] = [];
  for (const [index, answer] of answers.entries()) {
    const which = index === 0 ? 'first answer' : 'repeated answer';
    if (answer.status !== 200) problems.push(`${which}: HTTP ${answer.status}`);
    const { errors } = JSON.parse(answer.canonical) as { errors?: Array<{ message?: string }> };
    if (errors)
      problems.push(
        `${which}: GraphQL errors: ${errors
          .map((error) => error.message)
          .join('; ')
          .slice(0, 300)}`,
      );
    const expected = reference?.canonical ?? answers[0]!.canonical;
    if (answer.canonical !== expected) {
      problems.push(...describeDifferences(expected, answer.canonical).map((line) => `${which}: ${line}`));
    }
  }
  if (!reference && problems.length === 0) {
    results.setReference(workload, name, answers[0]!);
    log(`  ${workload}: ${name}'s answer (${answers[0]!.bytes} bytes) is the reference`);
    return;
  }
  results.setCheck(workload, name, problems, answers[0]!.bytes);
  if (problems.length > 0) log(`  ${workload}: ${name} answers differently:\n    ${problems.join('\n    ')}`);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
