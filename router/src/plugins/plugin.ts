import type { IncomingMessage } from 'node:http';
import type { ApolloServerPlugin, HTTPGraphQLRequest, HTTPGraphQLResponse } from '@apollo/server';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import type { ValidationRule } from 'graphql';
import type { RedisCache } from '../../../platform/src/cache/redis.ts';
import type { BytesResponse, JsonRouteHandler, ReadinessChecks } from '../../../platform/src/http/server.ts';
import type { StopStep } from '../../../platform/src/lifecycle.ts';
import type { Logger } from '../../../platform/src/logger.ts';
import type { MetricsContext, ObservedRequest } from '../../../platform/src/metrics.ts';
import type { SubscriptionSink } from '../executor/index.ts';
import type { WarmOperation } from '../executor/plans/index.ts';
import type { RouterMetrics } from '../metrics.ts';
import type { OperationRequest } from '../operation-request.ts';
import type { SubgraphFetchContext } from '../subgraph-fetch/index.ts';
import type { Awaitable } from '../../../platform/src/awaitable.ts';
import type { Viewer } from '../../../platform/src/identity.ts';

/** What the router answers with: Apollo Server's response, or bytes served as they are (a cache hit). */
export type RouterResponse = HTTPGraphQLResponse | BytesResponse;

/**
 * One GraphQL request as the router's front stage sees it, before Apollo
 * Server. The same object goes through every plugin's hooks and, as
 * `contextValue.request`, into Apollo Server's, so a plugin keeps its own
 * per-request state in a WeakMap keyed by it instead of a field here.
 */
export interface RouterRequest {
  /** The request as Apollo Server will receive it; a stage may replace it (the safelist fills in documents). */
  http: HTTPGraphQLRequest;
  readonly incoming: IncomingMessage;
  /** What the HTTP layer records about the request, for metrics and the log. */
  readonly observed: ObservedRequest;
  /** The verified caller, null for an anonymous one; set by the authentication plugin. */
  viewer: Viewer | null;
  /**
   * The single operation as the router read it (operation-request.ts), once
   * for every stage; null before the operation stage, and for anything that
   * is not one operation the router could read (batches, malformed
   * envelopes: Apollo Server's to answer). A stage that learns the document
   * (a trusted document, an APQ lookup) puts it here.
   */
  operation: OperationRequest | null;
  /** Id of the supergraph version that serves this request; fixed when the operation stage starts. */
  graphId: string;
  /**
   * The `@override(label:)` labels on for this request, which the query
   * planner plans with; set in the operation stage by the progressive-override
   * plugin, so stages after it (the response cache) see them. Empty when none.
   */
  overrideLabels: ReadonlySet<string>;
  /** Set when the request came over a protocol that streams a subscription's events (router/src/subscriptions). */
  readonly subscriptions?: SubscriptionSink;
}

/** No labels: what a request carries until a plugin turns one on. */
export const noOverrideLabels: ReadonlySet<string> = new Set<string>();

/**
 * Apollo Server's context for one request. Besides the request itself it
 * carries only what subgraph fetches and Apollo-stage plugins of other
 * features read; a plugin's own state stays in the plugin.
 */
export interface RouterContext extends MetricsContext, SubgraphFetchContext {
  readonly request: RouterRequest;
  /** The verified caller, or null for an anonymous one. */
  viewer: Viewer | null;
  /** The caller's signed identity, forwarded to subgraphs; null when anonymous or not configured. */
  identity: string | null;
  /** Every operation of the request is in the trusted-documents manifest. */
  trusted: boolean;
  /** The request's id, as in its `x-request-id` response header. */
  requestId: string;
  /** The `@override(label:)` labels the query planner plans this request with (RouterRequest.overrideLabels). */
  readonly overrideLabels: ReadonlySet<string>;
  /** Where a subscription's events go (RouterRequest.subscriptions); absent over plain HTTP. */
  readonly subscriptions?: SubscriptionSink;
}

/** What the router lends its plugins when it starts. */
export interface RouterServices {
  logger: Logger;
  /** True in production: errors masked, no IDE, rate limiting on by default. */
  production: boolean;
  /** Where counters and histograms go; served apart on `/metrics`. */
  metrics: RouterMetrics;
  /**
   * The cache every router instance shares when Redis is configured (else
   * this process's); features store under their own key prefix. Apollo
   * Server's APQ store is in it under `apq:`.
   */
  cache: KeyValueCache<string>;
  /** The Redis connection behind `cache`; null when there is none. */
  redis: RedisCache | null;
}

/** What a plugin adds to the Apollo Server built for each supergraph version. */
export interface GraphContribution {
  apollo?: ApolloServerPlugin<RouterContext>[];
  validationRules?: ValidationRule[];
  parseOptions?: { maxTokens?: number };
}

/** Which stage answered: a front-stage plugin (before Apollo Server), or the gateway. */
export type AnsweredBy = 'front' | 'gateway';

/**
 * A router feature. The router runs its hooks, in the order plugins are
 * listed, around every GraphQL request:
 *
 * 1. `onRequest`: before the body is read (who is calling, their allowance).
 * 2. the router reads the operation once (operation-request.ts);
 * 3. `onOperation`: with the operation read (safelist, cache lookup);
 * 4. Apollo Server, with `apollo` and `graph` contributions and `context`;
 * 5. `onResponse`: every answer, whichever stage gave it.
 *
 * A hook that returns a response ends stages 1–4 with it. Every hook is
 * optional; a feature takes only the ones it needs.
 */
export interface RouterPlugin {
  /** For the log: the plugins a router runs are listed by name when it starts. */
  name: string;
  /** Runs once at start, before the router listens: the moment to connect, load files, subscribe. */
  setup?(router: RouterServices): Awaitable<void>;
  onRequest?(request: RouterRequest): Awaitable<RouterResponse | void>;
  onOperation?(request: RouterRequest): Awaitable<RouterResponse | void>;
  /** May replace the response; `answeredBy` says whether Apollo Server ran. */
  onResponse?(
    request: RouterRequest,
    response: RouterResponse,
    answeredBy: AnsweredBy,
  ): Awaitable<RouterResponse | void>;
  /** Fields this feature adds to Apollo Server's context. */
  context?(request: RouterRequest): Awaitable<Partial<RouterContext>>;
  /** Apollo Server plugin installed in every supergraph version. */
  apollo?: ApolloServerPlugin<RouterContext>;
  /**
   * Operations clients are known to send (the trusted documents), which each
   * supergraph version plans before it is ready; read after `setup`.
   */
  operations?(): readonly WarmOperation[];
  /**
   * Contributions that depend on the supergraph, made for each version as it
   * is built; `id` is the version's, as requests carry it in `graphId`.
   */
  graph?(supergraph: { sdl: string; id: string }): GraphContribution;
  /** Further HTTP endpoints by exact path, such as `/cache/purge`. */
  routes?: Record<string, JsonRouteHandler>;
  /** Checks added to `/health/ready`. */
  readiness?(): Promise<ReadinessChecks>;
  /**
   * What the plugin closes when the router stops, after the gateway, in the
   * order plugins are listed; each step is named in the report of what is
   * still open when stopping overruns its bound.
   */
  stops?: readonly StopStep[];
}

/** A response served as stored bytes (a cache hit), as opposed to one Apollo Server made. */
export function isBytesResponse(response: RouterResponse): response is BytesResponse {
  return response.body.kind === 'bytes';
}
