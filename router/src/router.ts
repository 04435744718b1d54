import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import { GraphQLError, type ExecutionResult } from 'graphql';
import {
  close,
  createHttpService,
  drain,
  listen,
  requestIdHeader,
  serveMetricsApart,
  type JsonRouteHandler,
  type Listening,
  type MetricsEndpoint,
  type ReadinessChecks,
} from '../../platform/src/http/server.ts';
import { closableMap } from '../../platform/src/closable-iterator.ts';
import { ErrorCode } from '../../platform/src/errors.ts';
import { closeHttpServer, ServiceLifecycle, stopInOrder } from '../../platform/src/lifecycle.ts';
import type { EventBus } from '../../platform/src/events/index.ts';
import type { Logger } from '../../platform/src/logger.ts';
import { Metrics, observeRequest, type ObservedRequest } from '../../platform/src/metrics.ts';
import type { RouterConfig } from './config.ts';
import { createSharedCache } from './cache.ts';
import { eventErrorFormatter } from './errors.ts';
import { disableApolloTelemetry, GraphVersion, type GraphOptions } from './graph.ts';
import { RouterMetrics } from './metrics.ts';
import { readOperationRequest } from './operation-request.ts';
import { authenticationPlugin } from './plugins/authentication/index.ts';
import { idePlugin } from './plugins/ide/index.ts';
import {
  noOverrideLabels,
  type AnsweredBy,
  type RouterContext,
  type RouterPlugin,
  type RouterRequest,
  type RouterResponse,
} from './plugins/plugin.ts';
import { progressiveOverridePlugin } from './plugins/progressive-override/index.ts';
import { queryLimitsPlugin, type QueryLimits } from './plugins/query-limits/index.ts';
import { rateLimitPlugin } from './plugins/rate-limit/index.ts';
import { responseCachePlugin } from './plugins/response-cache/index.ts';
import { trustedDocumentsPlugin } from './plugins/trusted-documents/index.ts';
import type { SubgraphPolicies } from './subgraph-fetch/resilience.ts';
import type { WarmUpReport } from './executor/plans/index.ts';
import type { SubscriptionSink } from './executor/index.ts';
import { serveGraphqlWs } from './subscriptions/graphql-ws.ts';
import { multipartEndpoint } from './subscriptions/multipart.ts';
import {
  defaultSubscriptionLimits,
  OpenSubscriptions,
  type OpenSubscription,
  type SubscriptionLimits,
} from './subscriptions/open-subscriptions.ts';
import { sseEndpoint } from './subscriptions/sse.ts';
import type { StartStreamed } from './subscriptions/start.ts';
import { isPromise } from '../../platform/src/awaitable.ts';

export type ReloadOutcome =
  | { status: 'reloaded'; id: string; previousId: string }
  | { status: 'unchanged'; id: string }
  | { status: 'rejected'; id: string; reason: string };

export interface RunningRouter {
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  port: number;
  /** Id (sha-256 prefix) of the supergraph now serving new requests. */
  graphId(): string;
  /** Re-reads the supergraph file and swaps to it if it is new and valid. */
  reload(): Promise<ReloadOutcome>;
  /**
   * How planning the trusted operations went for the version now serving,
   * done before it served; null with the stock executor, which plans on requests.
   */
  planWarmUp(): WarmUpReport | null;
  /** Readiness answers 503 from now on, while requests are still served (`drain` in http/server.ts). */
  drain(): void;
  /** Stops accepting requests, lets in-flight ones finish, then stops the gateway and closes connections. */
  stop(): Promise<void>;
  /** What `stop` still waits for, for the log when it overruns its bound. */
  stillOpen(): Promise<string[]>;
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics; null when metrics are not served. */
  metricsUrl: string | null;
}

export type RouterSettings = Pick<
  RouterConfig,
  'host' | 'port' | 'supergraphPath' | 'watchSupergraph' | 'subgraphUrls' | 'nodeEnv'
> &
  Partial<
    Pick<
      RouterConfig,
      | 'redisUrl'
      | 'persistedQueryTtlSeconds'
      | 'authentication'
      | 'identitySecret'
      | 'trustedDocuments'
      | 'allowBatchedRequests'
      | 'executor'
      | 'cors'
      | 'rateLimit'
      | 'eventStreamPrefix'
    > & {
      subgraphPolicy: SubgraphPolicies;
      limits: Partial<QueryLimits>;
      responseCache: Partial<RouterConfig['responseCache']>;
      progressiveOverride: Partial<RouterConfig['progressiveOverride']>;
      /** How many subscriptions a caller and a connection may hold, and how far a client may fall behind. */
      subscriptionLimits: Partial<SubscriptionLimits>;
    }
  > &
  Pick<GraphOptions, 'drainTimeoutMs'> & {
    /** The bus whose events purge the response cache. Default: Redis Streams when `redisUrl` is set, else none. */
    eventBus?: EventBus | null;
    /** Where `/metrics` is served, apart from the public port. Default: 127.0.0.1, a free port; null: nowhere. */
    metrics?: RouterConfig['metrics'] | null;
    /** Further plugins, run after the configured features (a test's probe, say). Default: none. */
    plugins?: readonly RouterPlugin[];
  };

/**
 * The router's features, from its settings: one line each, in the order
 * their hooks run. Who is calling comes first, then their allowance; the
 * safelist fills in a document before the cache looks it up.
 *
 * Not plugins, because no router runs without them or they are not
 * per-request features:
 * - error formatting and logging (graph.ts): every response is masked the
 *   same way, and a router that left it out would leak internals;
 * - APQ: Apollo Server's own feature, configured on it, in the shared cache;
 * - CORS and security headers: the HTTP layer answers preflights and sets
 *   them on every route, before any GraphQL is read;
 * - metrics: the instrument every plugin reports to (RouterServices), served
 *   on a port of its own.
 */
export function routerPlugins(settings: RouterSettings): RouterPlugin[] {
  const plugins: RouterPlugin[] = [];
  if (settings.authentication)
    plugins.push(authenticationPlugin({ ...settings.authentication, identitySecret: settings.identitySecret }));
  plugins.push(queryLimitsPlugin(settings.limits));
  if (settings.rateLimit) plugins.push(rateLimitPlugin(settings.rateLimit));
  if (settings.trustedDocuments) plugins.push(trustedDocumentsPlugin(settings.trustedDocuments));
  // Before the response cache: the labels on for a request are part of its cache key.
  if (settings.progressiveOverride?.enabled !== false)
    plugins.push(progressiveOverridePlugin(settings.progressiveOverride));
  if (settings.responseCache?.enabled !== false)
    plugins.push(
      responseCachePlugin({
        ...settings.responseCache,
        eventBus: settings.eventBus,
        eventStreamPrefix: settings.eventStreamPrefix,
      }),
    );
  // GraphiQL for a browser outside production; in production no landing page at all.
  plugins.push(idePlugin({ enabled: settings.nodeEnv !== 'production' }));
  return [...plugins, ...(settings.plugins ?? [])];
}

// Editors save in bursts (truncate, write, rename); wait for the file to settle.
const watchDebounceMs = 150;

export async function startRouter(settings: RouterSettings, logger: Logger): Promise<RunningRouter> {
  disableApolloTelemetry();
  const production = settings.nodeEnv === 'production';
  const metrics = new RouterMetrics(new Metrics());
  const shared = createSharedCache(settings.redisUrl ?? null, logger);
  const plugins = routerPlugins(settings);
  const setUp: RouterPlugin[] = [];
  // Stops what has been set up, in order, when the router cannot start.
  const stopPlugins = async () => {
    for (const step of setUp.flatMap((plugin) => plugin.stops ?? [])) await step.stop();
  };
  try {
    for (const plugin of plugins) {
      setUp.push(plugin);
      await plugin.setup?.({ logger, production, metrics, cache: shared.cache, redis: shared.redis });
    }
  } catch (error) {
    await stopPlugins();
    await shared.close();
    throw error;
  }
  const hooks = {
    onRequest: plugins.filter((plugin) => plugin.onRequest),
    onOperation: plugins.filter((plugin) => plugin.onOperation),
    onResponse: plugins.filter((plugin) => plugin.onResponse),
    context: plugins.filter((plugin) => plugin.context),
  };
  const graphOptions: GraphOptions = {
    production,
    subgraphUrls: settings.subgraphUrls,
    ...(settings.subgraphPolicy ? { subgraphPolicy: settings.subgraphPolicy } : {}),
    persistedQueries: { cache: shared.cache, ttlSeconds: settings.persistedQueryTtlSeconds ?? 86_400 },
    plugins,
    metrics,
    allowBatchedRequests: settings.allowBatchedRequests ?? false,
    ...(settings.executor ? { executor: settings.executor } : {}),
    // Shared only through Redis: an in-memory shared cache would hold each plan twice in one process.
    queryPlans: { shared: shared.kind === 'redis' ? shared.cache : null },
    logger,
    ...(settings.drainTimeoutMs !== undefined ? { drainTimeoutMs: settings.drainTimeoutMs } : {}),
  };
  let current: GraphVersion;
  // Until the first supergraph is loaded, readiness says so and GraphQL requests wait for it.
  let loading: Promise<GraphVersion> | null = readFile(settings.supergraphPath, 'utf8').then((sdl) =>
    GraphVersion.build(sdl, graphOptions),
  );
  // Awaited once listening; this only keeps an early failure from counting as unhandled meanwhile.
  loading.catch(() => {});
  // The router waits for its supergraph, then serves until drained: readiness and keep-alive follow this.
  const lifecycle = new ServiceLifecycle({ phase: 'waiting', for: ['supergraph'], reason: null });
  const subscriptionLimits: SubscriptionLimits = { ...defaultSubscriptionLimits, ...settings.subscriptionLimits };
  const streamLimits = {
    unreadBytes: subscriptionLimits.unreadBytes,
    closedSlow: () => openSubscriptions.closedBy('slow_client'),
    closedExpired: () => openSubscriptions.closedBy('token_expired'),
  };
  const sse = sseEndpoint({ start: startStreamed, logger, ...streamLimits });
  const multipart = multipartEndpoint({ start: startStreamed, logger, ...streamLimits });
  const server = createHttpService({
    lifecycle,
    logger,
    metrics: metrics.metrics,
    graphql: handleGraphQL,
    responseHeaders: securityHeaders({ production: graphOptions.production }),
    cors: settings.cors ?? null,
    streams: [sse, multipart],
    readiness: async () => {
      const checks: ReadinessChecks = {
        supergraph: loading
          ? { ok: false, detail: 'loading the supergraph' }
          : { ok: true, detail: `serving ${current.id}` },
      };
      for (const plugin of plugins) if (plugin.readiness) Object.assign(checks, await plugin.readiness());
      return checks;
    },
    readinessFields: () => ({ graphId: loading ? null : current.id }),
    routes: Object.assign({}, ...plugins.map((plugin) => plugin.routes ?? {})) as Record<string, JsonRouteHandler>,
  });
  let listening: Listening;
  let metricsEndpoint: MetricsEndpoint | undefined;
  try {
    // Listening while the gateway is built, so the health endpoints answer from the start.
    listening = await listen(server, settings.port, settings.host);
    metricsEndpoint = await serveMetricsApart(metrics.metrics, settings.metrics, logger);
    current = await loading;
    loading = null;
    lifecycle.enter({ phase: 'ready' });
  } catch (error) {
    await close(server);
    await metricsEndpoint?.close();
    // Built for a router that could not listen: nothing will ever serve it.
    await loading?.then(
      (version) => version.stop(),
      () => {},
    );
    await stopPlugins();
    await shared.close();
    throw error;
  }
  logger.info(
    {
      supergraph: settings.supergraphPath,
      graphId: current.id,
      cache: shared.kind,
      plugins: plugins.map((plugin) => plugin.name),
    },
    'supergraph loaded',
  );

  // Reloads run one at a time, so two quick saves cannot race to swap.
  let reloading: Promise<ReloadOutcome> = Promise.resolve({ status: 'unchanged', id: current.id });
  const reload = (): Promise<ReloadOutcome> => {
    reloading = reloading.then(async () => {
      if (lifecycle.stopping) return { status: 'unchanged', id: current.id };
      let version: GraphVersion;
      try {
        const sdl = await readFile(settings.supergraphPath, 'utf8');
        if (sdl === current.supergraphSdl) return { status: 'unchanged', id: current.id };
        version = await GraphVersion.build(sdl, graphOptions);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        logger.error(
          { supergraph: settings.supergraphPath, graphId: current.id, reason },
          'new supergraph rejected; still serving the previous one',
        );
        return { status: 'rejected', id: current.id, reason };
      }
      if (lifecycle.stopping) {
        // Built while the router was stopping: nothing will ever serve it.
        await version.stop();
        return { status: 'unchanged', id: current.id };
      }
      const previous = current;
      current = version;
      previous.retire();
      logger.info(
        { graphId: version.id, previousId: previous.id, draining: previous.inFlightRequests },
        'supergraph reloaded',
      );
      return { status: 'reloaded', id: version.id, previousId: previous.id };
    });
    return reloading;
  };

  let watcher: FSWatcher | null = null;
  let debounce: NodeJS.Timeout | undefined;
  if (settings.watchSupergraph) {
    // Watch the folder, not the file: an editor's atomic save replaces the
    // file's inode, and a Kubernetes ConfigMap update swaps a symlink beside
    // it without any event naming the file. Any change in the folder is
    // checked; an unchanged file makes reload() a no-op.
    watcher = watch(dirname(settings.supergraphPath), () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload(), watchDebounceMs);
    });
    watcher.on('error', (error) => {
      logger.error(
        { err: error, supergraph: settings.supergraphPath },
        'cannot watch the supergraph; send SIGHUP to reload',
      );
    });
  }

  /*
   * The hooks below await a plugin's answer only when it is a promise:
   * most hooks return at once, and each needless `await` is a promise and a
   * microtask per hook per request, on the path every request takes.
   */

  /** One request through the plugins' hooks (RouterPlugin says in which order), then its answer through theirs. */
  async function handleGraphQL(
    http: HTTPGraphQLRequest,
    incoming: IncomingMessage,
    observed: ObservedRequest,
  ): Promise<RouterResponse> {
    const request: RouterRequest = {
      http,
      incoming,
      observed,
      viewer: null,
      operation: null,
      graphId: '',
      overrideLabels: noOverrideLabels,
    };
    const answered = await answer(request);
    let response = answered.response;
    for (const plugin of hooks.onResponse) {
      const replaced = plugin.onResponse!(request, response, answered.by);
      response = (isPromise(replaced) ? await replaced : replaced) ?? response;
    }
    return response;
  }

  async function answer(request: RouterRequest): Promise<{ response: RouterResponse; by: AnsweredBy }> {
    for (const plugin of hooks.onRequest) {
      const answered = plugin.onRequest!(request);
      const response = isPromise(answered) ? await answered : answered;
      if (response) return { response, by: 'front' };
    }
    const read = readOperationRequest(request.http);
    if (read.status === 'refused') return { response: read.response, by: 'front' };
    request.operation = read.status === 'read' ? read.operation : null;
    // The version is fixed first, so what a stage looks up and what is stored belong to the same graph.
    const version = loading ? await loading : current;
    request.graphId = version.id;
    for (const plugin of hooks.onOperation) {
      const answered = plugin.onOperation!(request);
      const response = isPromise(answered) ? await answered : answered;
      if (response) return { response, by: 'front' };
    }
    const response = await version.serve((apollo) =>
      apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest: request.http, context: () => contextOf(request) }),
    );
    return { response, by: 'gateway' };
  }

  async function contextOf(request: RouterRequest): Promise<RouterContext> {
    const context: RouterContext = {
      request,
      viewer: request.viewer,
      identity: null,
      trusted: false,
      requestId: request.http.headers.get(requestIdHeader) ?? '',
      observed: request.observed,
      overrideLabels: request.overrideLabels,
      ...(request.subscriptions ? { subscriptions: request.subscriptions } : {}),
    };
    for (const plugin of hooks.context) {
      const fields = plugin.context!(request);
      Object.assign(context, isPromise(fields) ? await fields : fields);
    }
    return context;
  }

  /**
   * One operation from a streaming protocol (graphql-ws), through the same
   * stages as an HTTP request; a subscription's events go to `streamed`.
   * The caller's identity is signed again whenever the subscription asks,
   * since it outlives one signature.
   */
  async function startStreamed(...[http, incoming, streamed]: Parameters<StartStreamed>): ReturnType<StartStreamed> {
    let accepted: { events: AsyncIterableIterator<ExecutionResult>; field: string } | null = null;
    const clientGone = new AbortController();
    const subscriptions: SubscriptionSink = {
      resumeAfter: streamed.resumeAfter,
      accept: (events, { field }) => (accepted = { events, field }),
      identity: async () => (await contextOf(request)).identity,
      signal: clientGone.signal,
      closedTooSlow: () => openSubscriptions.closedBy('slow_client'),
    };
    const request: RouterRequest = {
      http,
      incoming,
      observed: observeRequest(),
      viewer: null,
      operation: null,
      graphId: '',
      overrideLabels: noOverrideLabels,
      subscriptions,
    };
    const answered = await answer(request);
    let response = answered.response;
    for (const plugin of hooks.onResponse) {
      const replaced = plugin.onResponse!(request, response, answered.by);
      response = (isPromise(replaced) ? await replaced : replaced) ?? response;
    }
    const started = accepted as { events: AsyncIterableIterator<ExecutionResult>; field: string } | null;
    if (started) {
      // Anonymous callers behind one proxy share an address: theirs are bounded per connection and by the rate limit.
      const caller = request.viewer ? `user:${request.viewer.id}` : null;
      const opened = openSubscriptions.open(caller, started.field, streamed.protocol, streamed.resumeAfter !== null);
      if (!opened) {
        await started.events.return?.(undefined);
        return { response: tooManySubscriptions(openSubscriptions.limits.perCaller), viewer: request.viewer };
      }
      streamed.accept(
        closableMap(
          started.events,
          (event) => withFormattedErrors(event, opened),
          () => {
            opened.close();
            clientGone.abort();
          },
        ),
      );
    }
    return { response, viewer: request.viewer };
  }
  const formatEventErrors = eventErrorFormatter({ production: graphOptions.production });
  const openSubscriptions = new OpenSubscriptions(subscriptionLimits, metrics);
  /** An event with its errors masked and worded as any response's, counted as delivered. */
  function withFormattedErrors(event: ExecutionResult, subscription: OpenSubscription): ExecutionResult {
    subscription.delivered();
    if (!event.errors?.length) return event;
    return {
      ...event,
      // As GraphQLErrors again: the protocol libraries serialise errors with their toJSON.
      errors: formatEventErrors(event.errors).map(
        ({ message, path, extensions }) => new GraphQLError(message, { ...(path ? { path } : {}), extensions }),
      ),
    };
  }
  const graphqlWs = serveGraphqlWs({
    server,
    path: '/graphql',
    start: startStreamed,
    logger,
    perConnection: subscriptionLimits.perConnection,
    ...streamLimits,
  });

  const metricsServed: MetricsEndpoint = metricsEndpoint;
  const metricsUrl = metricsServed.url;
  logger.info({ url: `${listening.url}/graphql`, metrics: metricsUrl, graphId: current.id }, 'router ready');

  const shutdown = stopInOrder([
    {
      name: 'supergraph watcher',
      stop: () => {
        // The lifecycle already drains (closeHttpServer below moves it on); no reload may swap in meanwhile.
        lifecycle.drain();
        watcher?.close();
        clearTimeout(debounce);
      },
    },
    // Before the HTTP server, which would wait for them: clients reconnect elsewhere and resume.
    { name: 'subscriptions', stop: () => Promise.all([graphqlWs.close(), sse.close(), multipart.close()]) },
    closeHttpServer(server),
    { name: 'supergraph reload', stop: () => reloading },
    { name: 'gateway', stop: () => current.stop() },
    ...plugins.flatMap((plugin) => plugin.stops ?? []),
    { name: 'shared cache', stop: () => shared.close() },
    // Last: Prometheus can scrape the drain and the stop.
    { name: 'metrics server', stop: () => metricsServed.close() },
  ]);

  return {
    url: `${listening.url}/graphql`,
    port: listening.port,
    graphId: () => current.id,
    reload,
    planWarmUp: () => current.warmUp,
    drain: () => drain(server),
    stop: shutdown.stop,
    stillOpen: shutdown.stillOpen,
    metricsUrl,
  };
}

/**
 * Headers for a JSON API that no browser should render, frame or sniff. In
 * production no page is served at all, so everything may be locked down;
 * in development the bundled GraphiQL (plugins/ide) runs inline scripts
 * and Monaco's workers from blob URLs, which a CSP would have to allow.
 */
export function securityHeaders({ production }: { production: boolean }): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-site',
    ...(production
      ? {
          'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
          'strict-transport-security': 'max-age=31536000; includeSubDomains',
        }
      : {}),
  };
}

/** The answer to a subscription over the caller's limit: what a rate-limited request gets. */
function tooManySubscriptions(limit: number): RouterResponse {
  return {
    status: 429,
    headers: new HeaderMap([['content-type', 'application/json; charset=utf-8']]),
    body: {
      kind: 'complete',
      string: JSON.stringify({
        errors: [
          {
            message: `This caller has ${limit} subscriptions open, the most allowed. Close one before opening another.`,
            extensions: { code: ErrorCode.RateLimited },
          },
        ],
      }),
    },
  };
}
