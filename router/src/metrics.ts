import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram } from 'prom-client';
import { ErrorCode } from '../../platform/src/errors.ts';
import { requestDurationBuckets, type Metrics, type MetricsContext } from '../../platform/src/metrics.ts';
import type { PlanOrigin, QueryPlansObserver } from './executor/plans/index.ts';
import type { SubgraphFetchFailure, SubgraphFetchObserver } from './subgraph-fetch/index.ts';
import type { CircuitState } from './subgraph-fetch/resilience.ts';

/** The router's caches a hit ratio is worth watching for. */
export type RouterCache = 'apq' | 'response';

/**
 * Planning one operation takes from well under a millisecond to seconds for
 * a pathological one; request buckets would put nearly every plan in the first.
 */
const planningDurationBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The router's own series, beside the request durations every service has
 * (platform/src/metrics.ts): subgraph fetches, cache hits and misses,
 * rate-limit rejections, and query plans. Each feature reports here where it decides; see
 * docs/metrics.md for the series and what to alert on.
 */
export class RouterMetrics implements SubgraphFetchObserver, QueryPlansObserver {
  private readonly fetchDurations: Histogram<'subgraph'>;
  private readonly fetchErrors: Counter<'subgraph' | 'reason'>;
  private readonly circuitOpen: Gauge<'subgraph'>;
  private readonly cacheLookups: Counter<'cache' | 'result'>;
  private readonly rateLimitRejections: Counter<'limit'>;
  private readonly queryPlans: Counter<'source'>;
  private readonly planningDurations: Histogram;
  private readonly subscriptionsActive: Gauge<'field' | 'protocol'>;
  private readonly subscriptionEvents: Counter<'field'>;
  private readonly subscriptionsRefused: Counter<'reason'>;
  private readonly subscriptionResumes: Counter<'field'>;

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
    this.queryPlans = new Counter({
      name: 'router_query_plans_total',
      help: "Query plans handed to the executor, by source: memory (this instance's), shared (the cache router instances share), or planned (the planner ran); requests that waited for one planning count with its source.",
      labelNames: ['source'],
      registers,
    });
    this.planningDurations = new Histogram({
      name: 'router_query_planning_duration_seconds',
      help: 'Runs of the query planner, one per operation, document and override labels not found in any cache; failed plannings included.',
      buckets: planningDurationBuckets,
      registers,
    });
    this.subscriptionsActive = new Gauge({
      name: 'router_subscriptions_active',
      help: 'Subscriptions open on this router, by root field and client protocol (graphql-ws, sse, multipart).',
      labelNames: ['field', 'protocol'],
      registers,
    });
    this.subscriptionEvents = new Counter({
      name: 'router_subscription_events_total',
      help: 'Subscription events handed to the client protocol, by root field.',
      labelNames: ['field'],
      registers,
    });
    this.subscriptionsRefused = new Counter({
      name: 'router_subscriptions_closed_total',
      help: 'Subscriptions the router refused or ended itself, by reason: limit (too many open for the caller or the connection), slow_client (its unsent events passed the buffer bound; the client resumes after its last position), token_expired.',
      labelNames: ['reason'],
      registers,
    });
    this.subscriptionResumes = new Counter({
      name: 'router_subscription_resumes_total',
      help: 'Subscriptions started after a position (a client resuming after a reconnect or a router restart), by root field.',
      labelNames: ['field'],
      registers,
    });
  }

  subscriptionOpened(field: string, protocol: string, resumed: boolean): void {
    this.subscriptionsActive.inc({ field, protocol });
    if (resumed) this.subscriptionResumes.inc({ field });
  }

  subscriptionClosed(field: string, protocol: string): void {
    this.subscriptionsActive.dec({ field, protocol });
  }

  subscriptionEvent(field: string): void {
    this.subscriptionEvents.inc({ field });
  }

  subscriptionRefused(reason: 'limit' | 'slow_client' | 'token_expired'): void {
    this.subscriptionsRefused.inc({ reason });
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

  queryPlanServed(source: PlanOrigin): void {
    this.queryPlans.inc({ source });
  }

  queryPlanned(seconds: number): void {
    this.planningDurations.observe(seconds);
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
