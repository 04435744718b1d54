/**
 * One cell: one workload against one running contender, in one round.
 * Correctness is checked before any load; then a warm-up, then the
 * measured window, bracketed by /proc and subgraph-counter samples.
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Contender } from '../contenders/index.ts';
import type { RunningGraph } from '../subgraphs/graph.ts';
import type { Callers } from './callers.ts';
import { canonicalResponse } from './compare.ts';
import { fullBody, jsonHeaders, persistedBody, post, registrationBody, type Operation } from './graphql.ts';
import { runLoad, type LoadResult } from './load.ts';
import { sampleProcess } from './proc-stats.ts';

export interface CellMeasurement extends LoadResult {
  round: number;
  /** Gateway CPU (utime + stime, all threads) over the measured window. */
  cpuMs: number;
  /** VmHWM over the measured window (reset before it where the kernel allows). */
  peakRssBytes: number;
  /** Processes the CPU figure covers; more than 1 means the gateway forked. */
  processes: number;
  subgraphRequests: number;
  /** What each measured request sent. */
  requestBodyBytes: number;
  requestCarriesQueryText: boolean;
}

export interface FetchedResponse {
  /** Canonical JSON without `extensions`, for comparison. */
  canonical: string;
  status: number;
  bytes: number;
}

export interface CellTarget {
  url: string;
  pid: number;
  contender: Contender;
  graph: RunningGraph;
  operation: Operation;
}

export interface CellSettings {
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** Who this workload's requests come from. */
  callers: Callers;
}

/**
 * Fetches the workload's answer as a client would, twice: the second answer
 * is the one a cache would serve, so it must match too. Both come from the
 * same user, where the answer is the caller's own. For APQ the hash alone
 * is sent, registered in between, so the answer proves the hash-only
 * request works.
 */
export async function fetchForCheck(target: CellTarget, callers: Callers): Promise<FetchedResponse[]> {
  const [first, second] = await callers.takeOneUser(2);
  const requests = target.contender.persistedQueries
    ? [
        { body: registrationBody(target.operation), caller: first! },
        { body: persistedBody(target.operation), caller: second! },
      ]
    : [
        { body: fullBody(target.operation), caller: first! },
        { body: fullBody(target.operation), caller: second! },
      ];
  return callers.withIdentities(async () => {
    const answers: FetchedResponse[] = [];
    for (const { body, caller } of requests) {
      const { status, json, bytes } = await post(target.url, body, callers.headers(caller));
      answers.push({ canonical: canonicalResponse(json), status, bytes });
    }
    return answers;
  });
}

export async function measureCell(target: CellTarget, settings: CellSettings, round: number): Promise<CellMeasurement> {
  const { contender, operation, url, pid, graph } = target;
  const { callers } = settings;
  const headersOf = callers.headers.bind(callers);
  if (contender.persistedQueries) {
    // A freshly started router knows no hashes: register once, as an APQ client does on its first miss.
    const [caller] = await callers.take(1);
    await callers.withIdentities(() => post(url, registrationBody(operation), headersOf(caller!)));
  }
  const body = contender.persistedQueries ? persistedBody(operation) : fullBody(operation);
  const request = { url, body, headers: jsonHeaders };

  const warmupCallers = await callers.warmupCallers();
  const warmup = await callers.withIdentities(() =>
    runLoad({
      request,
      connections: settings.connections,
      stopAfter: { seconds: settings.warmupSeconds },
      callers: warmupCallers,
      headersOf,
      deadlineMs: settings.warmupSeconds * 1000 + 30_000,
    }),
  );
  // Figures for answers that are wrong are worth nothing: stop here, and the row says why.
  if (warmup.non2xx + warmup.graphqlErrors > 0) {
    throw new Error(
      `warm-up: ${warmup.non2xx} non-2xx and ${warmup.graphqlErrors} answers with GraphQL errors ` +
        `of ${warmup.completed} (first: ${warmup.firstFailure})`,
    );
  }
  // A warm-up stopped by the clock leaves requests in flight; let the gateway finish them outside the window.
  await waitUntilIdle(pid, graph);

  // At least one request per connection, so every connection's latency is in the histogram.
  const amount = Math.max(settings.connections, Math.round(warmup.requestsPerSecond * settings.durationSeconds));
  const measuredCallers = await callers.take(amount + settings.connections);
  const { load, before, after, subgraphsBefore, subgraphsAfter } = await callers.withIdentities(async () => {
    resetPeakRss(pid);
    const subgraphsBefore = await graph.requestCount();
    const before = sampleProcess(pid);
    const load = await runLoad({
      request,
      connections: settings.connections,
      stopAfter: { requests: amount },
      callers: measuredCallers,
      headersOf,
      deadlineMs: Math.max(60_000, settings.durationSeconds * 4_000 + 30_000),
    });
    const after = sampleProcess(pid);
    const subgraphsAfter = await graph.requestCount();
    return { load, before, after, subgraphsBefore, subgraphsAfter };
  });

  return {
    ...load,
    round,
    cpuMs: after.cpuMs - before.cpuMs,
    peakRssBytes: after.peakRssBytes,
    processes: after.processes,
    subgraphRequests: subgraphsAfter - subgraphsBefore,
    requestBodyBytes: Buffer.byteLength(body),
    requestCarriesQueryText: 'query' in (JSON.parse(body) as object),
  };
}

/**
 * Waits (up to 15 s) until, over three samples 100 ms apart, the process
 * uses under 5 % of a core and the subgraphs receive no request. CPU alone
 * is not enough: a gateway waiting on a busy subgraph (the shop's Postgres)
 * uses almost none, yet the warm-up's requests it still holds would send
 * their fetches inside the measured window.
 */
async function waitUntilIdle(pid: number, graph: RunningGraph): Promise<void> {
  const deadline = Date.now() + 15_000;
  let previous = { cpuMs: sampleProcess(pid).cpuMs, requests: await graph.requestCount() };
  let quiet = 0;
  while (Date.now() < deadline && quiet < 3) {
    await sleep(100);
    const current = { cpuMs: sampleProcess(pid).cpuMs, requests: await graph.requestCount() };
    quiet = current.cpuMs - previous.cpuMs <= 5 && current.requests === previous.requests ? quiet + 1 : 0;
    previous = current;
  }
}

/**
 * Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so
 * the peak is that of the measured window, not of start-up or of an
 * earlier workload on the same process. Where it is refused, the peak is
 * the process's lifetime peak, which is still an upper bound.
 */
function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not permitted; see above
  }
}
