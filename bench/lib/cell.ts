/**
 * One cell: one workload against one running contender, in one round.
 * Correctness is checked before any load; then a warm-up, then the
 * measured window, bracketed by /proc and subgraph-counter samples.
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Contender } from '../contenders/index.ts';
import type { RunningGraph } from '../subgraphs/graph.ts';
import { canonicalResponse } from './compare.ts';
import { fullBody, jsonHeaders, persistedBody, post, registrationBody, type Operation } from './graphql.ts';
import { runLoad, type LoadResult } from './load.ts';
import { sampleProcess } from './proc-stats.ts';
import type { TokenPool } from './tokens.ts';

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
  tokens: TokenPool;
  /** Reused across warm-ups: warm-up requests are never measured. */
  warmupAuthorizations: string[];
}

/**
 * Fetches the workload's answer as a client would, twice: the second answer
 * is the one a cache would serve, so it must match too. For APQ the hash
 * alone is sent, registered in between, so the answer proves the
 * hash-only request works.
 */
export async function fetchForCheck(target: CellTarget, tokens: TokenPool): Promise<FetchedResponse[]> {
  const [first, second] = await tokens.take(2);
  const requests = target.contender.persistedQueries
    ? [
        { body: registrationBody(target.operation), authorization: first! },
        { body: persistedBody(target.operation), authorization: second! },
      ]
    : [
        { body: fullBody(target.operation), authorization: first! },
        { body: fullBody(target.operation), authorization: second! },
      ];
  const answers: FetchedResponse[] = [];
  for (const { body, authorization } of requests) {
    const { status, json, bytes } = await post(target.url, body, authorization);
    answers.push({ canonical: canonicalResponse(json), status, bytes });
  }
  return answers;
}

export async function measureCell(target: CellTarget, settings: CellSettings, round: number): Promise<CellMeasurement> {
  const { contender, operation, url, pid, graph } = target;
  if (contender.persistedQueries) {
    // A freshly started router knows no hashes: register once, as an APQ client does on its first miss.
    const [authorization] = await settings.tokens.take(1);
    await post(url, registrationBody(operation), authorization!);
  }
  const body = contender.persistedQueries ? persistedBody(operation) : fullBody(operation);
  const request = { url, body, headers: jsonHeaders };

  const warmup = await runLoad({
    request,
    connections: settings.connections,
    stopAfter: { seconds: settings.warmupSeconds },
    authorizations: settings.warmupAuthorizations,
    deadlineMs: settings.warmupSeconds * 1000 + 30_000,
  });
  // A warm-up stopped by the clock leaves requests in flight; let the gateway finish them outside the window.
  await waitUntilIdle(pid);

  // At least one request per connection, so every connection's latency is in the histogram.
  const amount = Math.max(settings.connections, Math.round(warmup.requestsPerSecond * settings.durationSeconds));
  const authorizations = await settings.tokens.take(amount + settings.connections);
  resetPeakRss(pid);
  const subgraphsBefore = await graph.requestCount();
  const before = sampleProcess(pid);
  const load = await runLoad({
    request,
    connections: settings.connections,
    stopAfter: { requests: amount },
    authorizations,
    deadlineMs: Math.max(60_000, settings.durationSeconds * 4_000 + 30_000),
  });
  const after = sampleProcess(pid);
  const subgraphsAfter = await graph.requestCount();

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

/** Waits (up to 15 s) until the process uses under 5 % of a core over 100 ms. */
async function waitUntilIdle(pid: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let previous = sampleProcess(pid).cpuMs;
  while (Date.now() < deadline) {
    await sleep(100);
    const current = sampleProcess(pid).cpuMs;
    if (current - previous <= 5) return;
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
