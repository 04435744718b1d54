import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram } from 'prom-client';
import { ErrorCode } from '../../platform/src/errors.ts';
import { requestDurationBuckets, type Metrics, type MetricsContext } from '../../platform/src/metrics.ts';
import type { SubgraphFetchFailure, SubgraphFetchObserver } from './subgraph-fetch/index.ts';
import type { CircuitState } from './subgraph-fetch/resilience.ts';

/** The router's caches a hit ratio is worth watching for. */
export type RouterCache = 'apq' | 'response';

/**
 * The router's own series, beside the request durations every service has
 * (platform/src/metrics.ts): subgraph fetches, cache hits and misses, and
 * rate-limit rejections. Each feature reports here where it decides; see
 * docs/metrics.md for the series and what to alert on.
 */
export class RouterMetrics implements SubgraphFetchObserver {
  private readonly fetchDurations: Histogram<'subgraph'>;
  private readonly fetchErrors: Counter<'subgraph' | 'reason'>;
  private readonly circuitOpen: Gauge<'subgraph'>;
  private readonly cacheLookups: Counter<'cache' | 'result'>;
  private readonly rateLimitRejections: Counter<'limit'>;

  constructor(readonly metrics: Metrics) {
    const registers = [metrics.registry];
    this.fetchDurations = new Histogram({
      name: 'router_subgraph_fetch_duration_seconds',
      help: 'HTTP requests from the router to a subgraph, from sending to the whole answer read; merged and shared fetches count once.',
      labelNames: ['subgraph'],
      buckets: requestDurationBuckets,
      registers,
    });
    this.fetchErrors = new Counter({
      name: 'router_subgraph_fetch_errors_total',
      help: 'Requests to a subgraph that got no usable answer, by reason: timeout, network (refused, reset), status (not 2xx), or circuit_open (refused by the router without sending).',
      labelNames: ['subgraph', 'reason'],
      registers,
    });
    this.circuitOpen = new Gauge({
      name: 'router_subgraph_circuit_open',
      help: "1 while a subgraph's circuit breaker refuses requests (open, or half-open with one trial request), 0 when closed.",
      labelNames: ['subgraph'],
      registers,
    });
    this.cacheLookups = new Counter({
      name: 'router_cache_lookups_total',
      help: 'Lookups in the automatic persisted query store (cache="apq") and the response cache (cache="response"), by result: hit or miss.',
      labelNames: ['cache', 'result'],
      registers,
    });
    this.rateLimitRejections = new Counter({
      name: 'router_rate_limit_rejections_total',
      help: 'Requests refused with 429, by the allowance exceeded: caller (per user or client address) or operation (a stricter one for an operation).',
      labelNames: ['limit'],
      registers,
    });
  }

  fetched(subgraph: string, seconds: number, failure: SubgraphFetchFailure | null): void {
    this.fetchDurations.observe({ subgraph }, seconds);
    if (failure) this.fetchErrors.inc({ subgraph, reason: failure });
  }

  rejected(subgraph: string): void {
    this.fetchErrors.inc({ subgraph, reason: 'circuit_open' });
  }

  circuitChanged(subgraph: string, state: CircuitState): void {
    this.circuitOpen.set({ subgraph }, state === 'closed' ? 0 : 1);
  }

  cacheLookup(cache: RouterCache, hit: boolean): void {
    this.cacheLookups.inc({ cache, result: hit ? 'hit' : 'miss' });
  }

  rateLimited(limit: 'caller' | 'operation'): void {
    this.rateLimitRejections.inc({ limit });
  }

  /**
   * For each gateway version: the operation and errors of every request
   * (`Metrics.plugin()`), and the outcome of each APQ lookup. Apollo Server
   * does that lookup itself when a request carries a hash and no text: it
   * marks a hit in `metrics.persistedQueryHit`, and answers a miss with
   * PERSISTED_QUERY_NOT_FOUND. A request with both registers the query and
   * is no lookup.
   */
  plugins(): ApolloServerPlugin<MetricsContext>[] {
    const router = this;
    return [
      this.metrics.plugin(),
      {
        async requestDidStart() {
          return {
            async willSendResponse({ request, metrics, errors }) {
              if (!request.extensions?.persistedQuery || request.query !== undefined) return;
              if (metrics.persistedQueryHit) return router.cacheLookup('apq', true);
              if (errors?.some((error) => error.extensions.code === ErrorCode.PersistedQueryNotFound))
                router.cacheLookup('apq', false);
            },
          };
        },
      },
    ];
  }
}
