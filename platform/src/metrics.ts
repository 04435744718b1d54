import type { ApolloServerPlugin } from '@apollo/server';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics, one `Metrics` per server instance: the router and each
 * subgraph make their own and register every series of theirs on its
 * registry, so several servers in one process (as in the tests) never share
 * or clash over a series. `GET /metrics` on a port of its own
 * (`createMetricsService` in platform/src/http/server.ts, `METRICS_PORT`)
 * serves it, never the public port; docs/metrics.md lists the series.
 */

/**
 * What a service learns about one GraphQL request while serving it: filled
 * in by `Metrics.plugin()` from the parsed document, read by the HTTP layer
 * once the response is written.
 */
export interface ObservedRequest {
  /** The operation's name as the parsed document has it; null when anonymous, or never parsed. */
  operationName: string | null;
  /** The response carried GraphQL errors. */
  errors: boolean;
}

/** The part of a request's context `Metrics.plugin()` writes to. */
export interface MetricsContext {
  observed?: ObservedRequest;
}

export interface MetricsOptions {
  /**
   * Distinct operation names that get a label value of their own; names seen
   * after that are counted as `other`, so clients cannot grow the number of
   * series without bound. Default: 100.
   */
  maxOperationNames?: number;
}

/** Request and fetch durations: from a cache hit (milliseconds) to the 30 s upstream timeout. */
export const requestDurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Operation names are GraphQL names; a longer one than this is counted as `other`. */
const maxOperationNameLength = 100;

export class Metrics {
  readonly registry = new Registry();
  private readonly graphqlRequests: Histogram<'operation' | 'outcome' | 'status'>;
  private readonly operationNames = new Set<string>();
  private readonly maxOperationNames: number;

  constructor({ maxOperationNames = 100 }: MetricsOptions = {}) {
    this.maxOperationNames = maxOperationNames;
    this.graphqlRequests = new Histogram({
      name: 'graphql_request_duration_seconds',
      help: 'GraphQL requests over HTTP, from the request to the last byte of the answer, by operation, outcome (ok, or error when the answer has errors or a 4xx/5xx status) and HTTP status.',
      labelNames: ['operation', 'outcome', 'status'],
      buckets: requestDurationBuckets,
      registers: [this.registry],
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text a Prometheus scrape gets: this process's metrics, then this server's. */
  async scrape(): Promise<string> {
    const [process, own] = await Promise.all([processMetrics().metrics(), this.registry.metrics()]);
    return `${process}\n${own}`;
  }

  /** Records one GraphQL request, as the HTTP layer saw it end. */
  observeGraphQLRequest(observed: ObservedRequest, status: number, seconds: number): void {
    this.graphqlRequests.observe(
      {
        operation: this.operationLabel(observed.operationName),
        outcome: observed.errors || status >= 400 ? 'error' : 'ok',
        status: String(status),
      },
      seconds,
    );
  }

  /**
   * The label value for an operation name: `anonymous` without one, the
   * name itself while fewer than `maxOperationNames` have been seen, `other`
   * after that. Only names from parsed documents should reach it.
   */
  operationLabel(name: string | null): string {
    if (!name) return 'anonymous';
    if (this.operationNames.has(name)) return name;
    if (this.operationNames.size >= this.maxOperationNames || !isOperationName(name)) return 'other';
    this.operationNames.add(name);
    return name;
  }

  /**
   * Copies what Apollo Server resolved into the request's `observed`: the
   * operation's name once the document is parsed and the operation chosen
   * (never the name a client merely sent), and whether the answer has errors.
   */
  plugin(): ApolloServerPlugin<MetricsContext> {
    return {
      async requestDidStart() {
        return {
          async willSendResponse({ contextValue, operationName, response }) {
            const observed = contextValue.observed;
            if (!observed) return;
            observed.operationName = operationName ?? null;
            observed.errors = response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0;
          },
        };
      },
    };
  }
}

/** A fresh `ObservedRequest`, as a request starts: nothing known yet. */
export function observeRequest(): ObservedRequest {
  return { operationName: null, errors: false };
}

function isOperationName(name: string): boolean {
  return name.length <= maxOperationNameLength && /^[_A-Za-z][_0-9A-Za-z]*$/.test(name);
}

let processRegistry: Registry | null = null;

/**
 * The process's own metrics (CPU, memory, GC, event-loop lag), from
 * prom-client's default collectors. They describe the process, not a server,
 * so they are collected once per process and every server in it shows them:
 * each `collectDefaultMetrics` call starts an event-loop sampling timer and
 * a GC observer that are never stopped, and a test process starts dozens of
 * servers.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * Resolves with what `work` resolves with, or rejects after `ms`: a gauge
 * that asks Redis or the database on scrape uses it, so a slow dependency
 * costs one missing value, never a hung scrape. `work` is not cancelled; its
 * late answer is ignored.
 */
export function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Where a service serves `GET /metrics`: a listener of its own, never the public port. */
export interface MetricsListen {
  /** Default: 127.0.0.1 (`METRICS_HOST`), so only the machine itself (or a sidecar) can scrape. */
  host: string;
  /** 0 picks a free port, logged at start. Default: see `metricsPortFrom`. */
  port: number;
}

/** The router's metrics port in production; each subgraph's is this plus its offset from 4000 (products, 4002: 9466). */
export const defaultMetricsPort = 9464;

/**
 * A service's metrics port: the one set, else in production
 * `defaultMetricsPort` plus the service's offset (0 for the router, the
 * subgraph's registered port − 4000), a fixed address for Prometheus;
 * elsewhere 0, a free port, so that tests and `npm start` never collide.
 */
export function metricsPortFrom(set: number | undefined, production: boolean, offset: number): number {
  return set ?? (production ? defaultMetricsPort + offset : 0);
}
