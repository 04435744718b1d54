/**
 * `npm run bench:subscriptions`: federated subscriptions at fan-out. N
 * graphql-ws subscribers (one WebSocket each, as real clients) to one
 * product's `stockChanged`, half on each of two router processes, on the
 * shop graph with its events on a real Redis (Redis Streams). Measures how
 * much resident memory an idle subscriber costs a router, then, over M
 * restocks one at a time, how long each restock's event takes to reach
 * every subscriber. See the "Subscriptions" section of docs/benchmarks.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { startRedis } from '../test/services.ts';
import { freePorts } from '../test/support/processes.ts';
import { contenders } from './contenders/index.ts';
import { waitForGraphQL } from './lib/graphql.ts';
import { describeMachine } from './lib/machine.ts';
import { runSibling, summary } from './lib/sibling.ts';
import { choosePlacement, onCleanup, pinSelf, startProcess, type ManagedProcess } from './lib/processes.ts';
import { TokenPool } from './lib/tokens.ts';
import { startShopGraph } from './shop/graph.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

const usage = `Usage: npm run bench:subscriptions -- [options]

N graphql-ws subscribers to one product's stockChanged, half on each of two
routers (ours-nocache, REDIS_URL set) on the shop graph with a real Redis:
router memory per idle subscriber, then the latency of M restocks' events to
every subscriber.

  --subscribers <n>  subscribers, split evenly over the two routers (default 1000)
  --events <m>       measured restocks, one at a time (default 20)
  --no-write-docs    print the table only; leave docs/benchmarks.md as it is
  --help             this text
`;

/** The shop seed; the catalog's size plays no part in a stock event's path. */
const shopSize = 'small';
/** Subscribers connecting at once while they are opened. */
const openBatch = 100;
/** How long a round waits for its event to reach every subscriber before counting it missed. */
const roundTimeoutMs = 15_000;
/** Events every subscriber receives before the measured rounds, the first of them reported as cold. */
const warmupEvents = 5;
/** Pause between rounds, so no round's deliveries overlap the next one's. */
const roundGapMs = 250;
/** Time left for a router to settle (GC, buffers) before its resident memory is read. */
const settleMs = 3_000;

const stockChanged = `subscription ($productId: ID!) {
  stockChanged(productId: $productId) { quantity inStock product { id name } }
}`;
const restockMutation = `mutation ($productId: ID!, $quantity: Int!) {
  restock(productId: $productId, quantity: $quantity) { product { quantity } }
}`;

interface SubscriptionsOptions {
  subscribers: number;
  events: number;
  writeDocs: boolean;
}

function parseOptions(argv: string[]): SubscriptionsOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      subscribers: { type: 'string' },
      events: { type: 'string' },
      'no-write-docs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const subscribers = Number(values.subscribers ?? 1_000);
  if (!Number.isInteger(subscribers) || subscribers < 2)
    throw new Error(`--subscribers: expected an integer ≥ 2, got ${values.subscribers}`);
  const events = Number(values.events ?? 20);
  if (!Number.isInteger(events) || events <= 0)
    throw new Error(`--events: expected a positive integer, got ${values.events}`);
  return { subscribers, events, writeDocs: !values['no-write-docs'] };
}

// ---------------------------------------------------------------------------
// Subscribers
// ---------------------------------------------------------------------------

interface Arrival {
  quantity: number | null;
  position: string | null;
  name: string | null;
  errors: unknown;
  /** performance.now() when the bench received it. */
  at: number;
}

class Subscriber {
  readonly arrivals: Arrival[] = [];
  connected = false;
  ended: unknown = null;
  private readonly client: Client;

  constructor(
    readonly router: number,
    url: string,
    productId: string,
  ) {
    this.client = createClient({
      url,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      // A connection held open for the whole run, whatever happens to its one subscription.
      lazy: false,
      on: { connected: () => void (this.connected = true) },
    });
    this.client.subscribe(
      { query: stockChanged, variables: { productId } },
      {
        next: (result) => {
          const at = performance.now();
          const change = (result.data as { stockChanged?: { quantity?: number; product?: { name?: string } } } | null)
            ?.stockChanged;
          this.arrivals.push({
            quantity: typeof change?.quantity === 'number' ? change.quantity : null,
            position: (result.extensions as { position?: string } | undefined)?.position ?? null,
            name: change?.product?.name ?? null,
            errors: result.errors ?? null,
            at,
          });
        },
        error: (error) => void (this.ended ??= error ?? 'error'),
        complete: () => void (this.ended ??= 'complete'),
      },
    );
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

async function until(what: string, condition: () => boolean, timeoutMs: number, stepMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

// ---------------------------------------------------------------------------
// Router memory
// ---------------------------------------------------------------------------

/** Resident set (VmRSS) of one process, in KiB. */
function residentKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

interface Memory {
  router: string;
  subscribers: number;
  beforeKiB: number;
  afterKiB: number;
}

interface Facts {
  command: string;
  machine: Awaited<ReturnType<typeof describeMachine>>;
  placement: string;
  options: SubscriptionsOptions;
  memory: Memory[];
  /** The first event after every subscriber had joined, from the commit: not in the rounds. */
  coldFromCommit: number[];
  fromCommit: number[];
  fromSend: number[];
  /** Per round, the first subscriber's latency from the commit: the event's way to a router, before the fan-out. */
  firstFromCommit: number[];
  mutationMs: number[];
  received: number;
  expected: number;
  warmupRestocks: number;
  openSeconds: number;
  wallSeconds: number;
}

function renderReport(facts: Facts): string {
  const { machine, options } = facts;
  const ms = (value: number) => value.toFixed(1);
  const kib = (value: number) => value.toLocaleString('en-US');
  const perSubscriber = (memory: Memory) => ((memory.afterKiB - memory.beforeKiB) / memory.subscribers).toFixed(1);
  const latencyRow = (label: string, samples: number[]) => {
    const { p50, p90, p99, max } = summary(samples);
    return `| ${label} | ${samples.length.toLocaleString('en-US')} | ${ms(p50)} | ${ms(p90)} | ${ms(p99)} | ${ms(max)} |`;
  };
  const commit = summary(facts.fromCommit);
  const lines = [
    `Measured ${machine.date} with \`${facts.command}\` (${(facts.wallSeconds / 60).toFixed(1)} min).`,
    '',
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}` +
      (machine.busyBeforeRun === null
        ? '.'
        : `; ${(machine.busyBeforeRun * 100).toFixed(0)} % busy just before the run.`),
    `- Placement: ${facts.placement} (both routers on the gateway core; the subscribers, Redis and Postgres with the subgraphs).`,
    `- Routers: two \`ours-nocache\` processes with \`REDIS_URL\`; ${options.subscribers.toLocaleString('en-US')} subscribers, ` +
      `one WebSocket each, ${facts.memory.map((each) => each.subscribers).join(' + ')}, opened in ${facts.openSeconds.toFixed(1)} s; ` +
      `${facts.warmupRestocks} restock(s) until every one had an event, then ${warmupEvents} warm-up events ` +
      `(the first of them reported apart, as cold) before the measured rounds.`,
    `- Events: ${options.events} restocks of one product, one at a time, sent to router A; ` +
      `received ${facts.received.toLocaleString('en-US')} of ${facts.expected.toLocaleString('en-US')} expected ✓. ` +
      `Restock mutation p50 ${ms(summary(facts.mutationMs).p50)} ms.`,
    '',
    '| router | subscribers | RSS before KiB | RSS idle with subscribers KiB | per idle subscriber KiB |',
    '| --- | --: | --: | --: | --: |',
    ...facts.memory.map(
      (memory) =>
        `| ${memory.router} | ${memory.subscribers} | ${kib(memory.beforeKiB)} | ${kib(memory.afterKiB)} | ${perSubscriber(memory)} |`,
    ),
    '',
    '| event latency (every subscriber × round) | samples | p50 ms | p90 ms | p99 ms | max ms |',
    '| --- | --: | --: | --: | --: | --: |',
    latencyRow("from the mutation's answer (commit)", facts.fromCommit),
    latencyRow('from sending the mutation', facts.fromSend),
    latencyRow("first subscriber of each round, from the mutation's answer", facts.firstFromCommit),
    latencyRow(
      "cold: the first event after the subscribers joined, from the mutation's answer (not in the rows above)",
      facts.coldFromCommit,
    ),
    '',
    `p99 from the commit: **${ms(commit.p99)} ms** (target: under 100 ms) ${commit.p99 < 100 ? '✓' : '✗'}.`,
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

async function run(options: SubscriptionsOptions, command: string): Promise<{ report: string; passed: boolean }> {
  const started = performance.now();
  const machine = await describeMachine();
  const placement = choosePlacement();
  // Before anything starts: children (subgraphs, Postgres, Redis) inherit the runner's core.
  if (placement.pinned) pinSelf(placement.supportCore!);
  log(`placement: ${placement.note}`);

  const workDir = mkdtempSync(join(tmpdir(), 'bench-subscriptions-'));
  onCleanup(async () => rmSync(workDir, { recursive: true, force: true }));

  const redis = await startRedis();
  onCleanup(() => redis.stop());
  // The shop's subgraph processes start with the runner's environment: their events go through this Redis.
  process.env.REDIS_URL = redis.url;
  log(`redis at ${redis.url}`);

  const tokens = new TokenPool();
  const identitySecret = randomBytes(48).toString('base64url');
  const shop = await startShopGraph({ size: shopSize, core: placement.supportCore, workDir, identitySecret, log });
  const productId = shop.ids.productId;
  log(`shop graph ready (product ${productId})`);

  const ports = await freePorts(2);
  const routers: ManagedProcess[] = ports.map((port, index) => {
    const launch = contenders['ours-nocache'].launch({
      supergraphPath: shop.supergraphPath,
      port: port!,
      jwtSecret: tokens.secret,
      identitySecret,
      signedIn: false,
    });
    return startProcess({
      name: `router-${'AB'[index]}`,
      command: launch.command,
      // Two routers on one machine: each its own free metrics port instead of production's fixed 9464.
      env: { ...launch.env, REDIS_URL: redis.url, METRICS_PORT: '0' },
      core: placement.gatewayCore,
      ipc: false,
    });
  });
  const httpUrls = ports.map((port) => `http://127.0.0.1:${port}/graphql`);
  const wsUrls = ports.map((port) => `ws://127.0.0.1:${port}/graphql`);
  const subscribers: Subscriber[] = [];
  try {
    const [reader] = await tokens.take(2);
    await Promise.all(
      routers.map((router, index) =>
        waitForGraphQL(httpUrls[index]!, { authorization: reader!.authorization }, () => !router.hasExited(), 90_000),
      ),
    );
    log(`routers ready (pids ${routers.map((each) => each.pid).join(', ')})`);

    const adminKey = new TextEncoder().encode(tokens.secret);
    const admin = `Bearer ${await new SignJWT({ scope: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(shop.seededUsers.userIds[0]!)
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(adminKey)}`;

    const named = await fetch(httpUrls[0]!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: reader!.authorization },
      body: JSON.stringify({ query: 'query ($id: ID) { product(id: $id) { name } }', variables: { id: productId } }),
    }).then((response) => response.json() as Promise<{ data?: { product?: { name?: string } } }>);
    const productName = named.data?.product?.name;
    if (!productName) throw new Error(`product ${productId} has no name: ${JSON.stringify(named)}`);

    /** One restock through router A: when it was sent, when its answer arrived, and the quantity it left. */
    const restock = async () => {
      const body = JSON.stringify({ query: restockMutation, variables: { productId, quantity: 1 } });
      const t0 = performance.now();
      const response = await fetch(httpUrls[0]!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: admin },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      const t1 = performance.now();
      const json = JSON.parse(text) as { data?: { restock?: { product?: { quantity?: number } } }; errors?: unknown };
      const quantity = json.data?.restock?.product?.quantity;
      if (response.status !== 200 || json.errors || typeof quantity !== 'number')
        throw new Error(`restock failed: HTTP ${response.status}: ${text.slice(0, 300)}`);
      return { t0, t1, quantity };
    };

    /** Restocks until every one of `watchers` has received an event; returns how many restocks that took. */
    const restockUntilAllSeen = async (watchers: Subscriber[], what: string) => {
      for (let attempt = 1; ; attempt++) {
        await restock();
        try {
          await until(what, () => watchers.every((each) => each.arrivals.length > 0), 3_000);
          return attempt;
        } catch (error) {
          const ended = watchers.find((each) => each.ended !== null);
          if (ended) throw new Error(`a subscriber ended: ${String(ended.ended)}`, { cause: error });
          if (attempt >= 20) throw error;
        }
      }
    };

    // Warm-up without measuring: one subscriber on each router, an event, gone. Code paths, connections to
    // the inventory subgraph and Redis are then as they are before a real subscriber arrives.
    const probes = wsUrls.map((url, index) => new Subscriber(index, url, productId));
    await restockUntilAllSeen(probes, 'the warm-up subscriber on each router to get an event');
    for (let i = 0; i < 20; i++) await restock();
    await Promise.all(probes.map((probe) => probe.close()));
    await sleep(settleMs);
    const beforeKiB = routers.map((router) => residentKiB(router.pid));
    log(`router RSS before subscribing: ${beforeKiB.map((each) => `${each} KiB`).join(', ')}`);

    const opening = performance.now();
    for (let start = 0; start < options.subscribers; start += openBatch) {
      const batch: Subscriber[] = [];
      for (let i = start; i < Math.min(start + openBatch, options.subscribers); i++)
        batch.push(new Subscriber(i % 2, wsUrls[i % 2]!, productId));
      subscribers.push(...batch);
      await until(`${batch.length} subscribers to connect`, () => batch.every((each) => each.connected), 30_000);
    }
    const openSeconds = (performance.now() - opening) / 1000;
    log(`${subscribers.length} subscribers connected in ${openSeconds.toFixed(1)} s`);
    const warmupRestocks = await restockUntilAllSeen(
      subscribers,
      `all ${subscribers.length} subscribers to get an event`,
    );
    log(`every subscriber has an event (${warmupRestocks} warm-up restock(s))`);
    await sleep(settleMs);
    const afterKiB = routers.map((router) => residentKiB(router.pid));
    const perRouter = [0, 1].map((index) => subscribers.filter((each) => each.router === index).length);
    const memory: Memory[] = routers.map((_, index) => ({
      router: 'AB'[index]!,
      subscribers: perRouter[index]!,
      beforeKiB: beforeKiB[index]!,
      afterKiB: afterKiB[index]!,
    }));
    for (const each of memory)
      log(
        `router ${each.router}: ${each.beforeKiB} → ${each.afterKiB} KiB, ` +
          `${((each.afterKiB - each.beforeKiB) / each.subscribers).toFixed(1)} KiB per idle subscriber`,
      );

    /** One restock and its event's arrival at every subscriber: latencies from the commit and from the send. */
    const round = async (label: string) => {
      const { t0, t1, quantity } = await restock();
      const arrivalOf = (subscriber: Subscriber) =>
        subscriber.arrivals.find((arrival) => arrival.quantity === quantity && arrival.errors === null);
      const problems: string[] = [];
      try {
        await until(
          `${label}'s event (quantity ${quantity}) at every subscriber`,
          () => subscribers.every((each) => arrivalOf(each) !== undefined),
          roundTimeoutMs,
          2,
        );
      } catch (error) {
        problems.push((error as Error).message);
      }
      const fromCommit: number[] = [];
      const fromSend: number[] = [];
      for (const subscriber of subscribers) {
        const arrival = arrivalOf(subscriber);
        if (!arrival) continue;
        if (arrival.name !== productName) problems.push(`an event named the product ${JSON.stringify(arrival.name)}`);
        fromCommit.push(arrival.at - t1);
        fromSend.push(arrival.at - t0);
      }
      const { p50, p99, max } = summary(fromCommit);
      const first = fromCommit.length > 0 ? Math.min(...fromCommit) : NaN;
      log(
        `${label}: ${fromCommit.length}/${subscribers.length} received; from commit first ${first.toFixed(1)} ` +
          `p50 ${p50.toFixed(1)} p99 ${p99.toFixed(1)} max ${max.toFixed(1)} ms (mutation ${(t1 - t0).toFixed(1)} ms)`,
      );
      await sleep(roundGapMs);
      return { fromCommit, fromSend, first, mutationMs: t1 - t0, problems };
    };

    // The first events after a thousand subscribers joined run their per-subscriber code before V8 has
    // optimised it (here and in the subscribers' process): reported apart, then passed before measuring.
    const cold = await round('first event after the subscribers joined');
    for (let warm = 1; warm < warmupEvents; warm++) await round(`warm-up event ${warm + 1}/${warmupEvents}`);

    // Measured rounds: each subscriber's arrivals from here on belong to the rounds.
    const firstArrival = subscribers.map((each) => each.arrivals.length);
    const fromCommit: number[] = [];
    const fromSend: number[] = [];
    const firstFromCommit: number[] = [];
    const mutationMs: number[] = [];
    let received = 0;
    const problems: string[] = [...cold.problems];
    for (let index = 0; index < options.events; index++) {
      const measured = await round(`round ${index + 1}/${options.events}`);
      fromCommit.push(...measured.fromCommit);
      fromSend.push(...measured.fromSend);
      if (measured.fromCommit.length > 0) firstFromCommit.push(measured.first);
      mutationMs.push(measured.mutationMs);
      received += measured.fromCommit.length;
      problems.push(...measured.problems);
    }
    const expected = subscribers.length * options.events;
    // Anything else a subscriber got during the rounds: errors, duplicates, events of no round.
    const extra =
      subscribers.reduce((sum, each, index) => sum + each.arrivals.length - firstArrival[index]!, 0) - received;
    if (extra !== 0) problems.push(`${extra} event(s) beyond one per subscriber and round`);
    const ended = subscribers.filter((each) => each.ended !== null).length;
    if (ended > 0) problems.push(`${ended} subscription(s) ended during the run`);
    if (received !== expected) problems.push(`received ${received} events of ${expected} expected`);

    const report = renderReport({
      command,
      machine,
      placement: placement.note,
      options,
      memory,
      coldFromCommit: cold.fromCommit,
      fromCommit,
      fromSend,
      firstFromCommit,
      mutationMs,
      received,
      expected,
      warmupRestocks,
      openSeconds,
      wallSeconds: (performance.now() - started) / 1000,
    });
    if (problems.length > 0) throw new Error(`the run failed its checks:\n- ${problems.join('\n- ')}\n\n${report}`);
    return { report, passed: true };
  } catch (error) {
    const output = routers
      .map((router) => {
        const text = router.output().slice(-1_500).trim();
        return text ? `${router.name} output:\n${text}` : '';
      })
      .filter(Boolean)
      .join('\n');
    throw new Error(`${(error as Error).message}${output ? `\n${output}` : ''}`, { cause: error });
  } finally {
    await Promise.all(subscribers.map((each) => each.close().catch(() => {})));
  }
}

await runSibling({ script: 'bench:subscriptions', usage, parseOptions, run });
