import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { HTTPGraphQLRequest, HTTPGraphQLResponse } from '@apollo/server';
import {
  close,
  createHttpService,
  drain,
  listen,
  requestIdHeader,
  type BytesResponse,
  serveMetricsApart,
  type Listening,
  type MetricsEndpoint,
} from '../../platform/src/http/server.ts';
import { closeHttpServer, stopInOrder } from '../../platform/src/lifecycle.ts';
import { unauthenticatedResponse } from '../../platform/src/errors.ts';
import { createEventBus, type EventBus } from '../../platform/src/events/index.ts';
import { withStreamPrefix } from '../../platform/src/events/stream-prefix.ts';
import { createIdentitySigner } from '../../platform/src/identity.ts';
import type { Logger } from '../../platform/src/logger.ts';
import { Metrics, type ObservedRequest } from '../../platform/src/metrics.ts';
import type { RouterConfig } from './config.ts';
import { createSharedCache } from './cache.ts';
import { GraphVersion, type GraphOptions } from './graph.ts';
import { RouterMetrics } from './metrics.ts';
import { defaultQueryLimits, type QueryLimits } from './plugins/query-limits/index.ts';
import { RateLimit, rateLimitedResponse } from './plugins/rate-limit/index.ts';
import { mediaTypeOf, readOperationRequest, soleOperationName } from './operation-request.ts';
import {
  anonymousOnly,
  AuthenticationError,
  createAuthenticator,
  type Authenticator,
} from './plugins/authentication/index.ts';
import {
  MemoryResponseStore,
  RedisResponseStore,
  ResponseCache,
  type ResponseCacheRequest,
} from './plugins/response-cache/index.ts';
import { purgeOnEvents } from './plugins/response-cache/event-purge.ts';
import { purgeEndpoint } from './plugins/response-cache/purge-endpoint.ts';
import { loadTrustedDocuments, TrustedDocuments } from './plugins/trusted-documents/index.ts';
import type { SubgraphPolicies } from './subgraph-fetch/resilience.ts';

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
      | 'cors'
      | 'rateLimit'
      | 'eventStreamPrefix'
    > & {
      subgraphPolicy: SubgraphPolicies;
      limits: Partial<QueryLimits>;
      responseCache: Partial<RouterConfig['responseCache']>;
    }
  > &
  Pick<GraphOptions, 'drainTimeoutMs'> & {
    /** The bus whose events purge the response cache. Default: Redis Streams when `redisUrl` is set, else none. */
    eventBus?: EventBus | null;
    /** Where `/metrics` is served, apart from the public port. Default: 127.0.0.1, a free port; null: nowhere. */
    metrics?: RouterConfig['metrics'] | null;
  };

// Editors save in bursts (truncate, write, rename); wait for the file to settle.
const watchDebounceMs = 150;

export async function startRouter(settings: RouterSettings, logger: Logger): Promise<RunningRouter> {
  const authenticator: Authenticator = settings.authentication
    ? await createAuthenticator(settings.authentication)
    : anonymousOnly;
  const trustedDocuments = await trustedDocumentsFrom(settings, logger);
  const identitySigner = settings.identitySecret ? await createIdentitySigner(settings.identitySecret) : null;
  const metrics = new RouterMetrics(new Metrics());
  const shared = createSharedCache(settings.redisUrl ?? null, logger);
  const rateLimit = settings.rateLimit
    ? new RateLimit({
        ...settings.rateLimit,
        redis: shared.redis?.connection ?? null,
        logger,
        onRejected: (limit) => metrics.rateLimited(limit),
      })
    : null;
  const cacheSettings = settings.responseCache ?? {};
  const responseCache =
    cacheSettings.enabled === false
      ? null
      : new ResponseCache({
          store: shared.redis ? new RedisResponseStore(shared.redis) : new MemoryResponseStore(),
          logger,
          ...(cacheSettings.maxTtlSeconds !== undefined ? { maxTtlSeconds: cacheSettings.maxTtlSeconds } : {}),
        });
  // With the cache and the event streams in Redis, what changes behind the router is purged too.
  const eventBus = !responseCache
    ? null
    : (settings.eventBus ??
      (shared.redis
        ? withStreamPrefix(createEventBus({ redis: shared.redis.connection, logger }), settings.eventStreamPrefix ?? '')
        : null));
  const purging = eventBus && responseCache ? purgeOnEvents({ bus: eventBus, cache: responseCache, logger }) : [];
  const graphOptions: GraphOptions = {
    production: settings.nodeEnv === 'production',
    subgraphUrls: settings.subgraphUrls,
    ...(settings.subgraphPolicy ? { subgraphPolicy: settings.subgraphPolicy } : {}),
    persistedQueries: { cache: shared.cache, ttlSeconds: settings.persistedQueryTtlSeconds ?? 86_400 },
    responseCache,
    limits: { ...defaultQueryLimits, ...settings.limits },
    rateLimit,
    metrics,
    allowBatchedRequests: settings.allowBatchedRequests ?? false,
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
  const server = createHttpService({
    logger,
    metrics: metrics.metrics,
    graphql: handleGraphQL,
    responseHeaders: securityHeaders({ production: graphOptions.production }),
    cors: settings.cors ?? null,
    readiness: async () => ({
      supergraph: loading
        ? { ok: false, detail: 'loading the supergraph' }
        : { ok: true, detail: `serving ${current.id}` },
    }),
    // A field of its own, so that tools (`npm start`'s hot reload) read the id without parsing the detail.
    readinessFields: (): Record<string, string> => (loading ? {} : { graphId: current.id }),
    routes:
      responseCache && cacheSettings.purgeToken
        ? { '/cache/purge': purgeEndpoint(responseCache, cacheSettings.purgeToken, logger) }
        : {},
  });
  let listening: Listening;
  let metricsEndpoint: MetricsEndpoint | undefined;
  try {
    // Listening while the gateway is built, so the health endpoints answer from the start.
    listening = await listen(server, settings.port, settings.host);
    metricsEndpoint = await serveMetricsApart(metrics.metrics, settings.metrics, logger);
    current = await loading;
    loading = null;
  } catch (error) {
    await close(server);
    await metricsEndpoint?.close();
    // Built for a router that could not listen: nothing will ever serve it.
    await loading?.then(
      (version) => version.stop(),
      () => {},
    );
    await Promise.all(purging.map((subscription) => subscription.stop()));
    if (!settings.eventBus) await eventBus?.close();
    await shared.close();
    throw error;
  }
  logger.info(
    {
      supergraph: settings.supergraphPath,
      graphId: current.id,
      cache: shared.kind,
      responseCache: responseCache !== null,
      trustedDocuments: trustedDocuments.mode,
      authentication: settings.authentication ? 'jwt' : 'off',
    },
    'supergraph loaded',
  );

  let stopping = false;
  // Reloads run one at a time, so two quick saves cannot race to swap.
  let reloading: Promise<ReloadOutcome> = Promise.resolve({ status: 'unchanged', id: current.id });
  const reload = (): Promise<ReloadOutcome> => {
    reloading = reloading.then(async () => {
      if (stopping) return { status: 'unchanged', id: current.id };
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
      if (stopping) {
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

  /**
   * One request, in order: who is calling, their allowance, whether the
   * request is well formed, whether the operation may run (safelist),
   * whether its response is cached, and only then the gateway.
   */
  async function handleGraphQL(
    incomingRequest: HTTPGraphQLRequest,
    incoming: IncomingMessage,
    observed: ObservedRequest,
  ): Promise<HTTPGraphQLResponse | BytesResponse> {
    let viewer;
    try {
      viewer = await authenticator.authenticate(incomingRequest.headers.get('authorization'));
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      // A token that does not verify draws on the address's allowance, so
      // guessing tokens costs what any other request costs.
      const limited = rateLimit ? await rateLimit.consume(rateLimit.keyOf(null, incoming)) : null;
      return limited ? rateLimitedResponse(limited) : unauthenticatedResponse(error.message);
    }
    // Counted before anything costly runs, for every request the caller sends.
    const rateLimitKey = rateLimit?.keyOf(viewer, incoming);
    const limited = rateLimit && rateLimitKey ? await rateLimit.consume(rateLimitKey) : null;
    if (limited) return rateLimitedResponse(limited);
    const read = readOperationRequest(incomingRequest);
    if (read.status === 'refused') return read.response;
    const safelisted = trustedDocuments.check(incomingRequest, read.status === 'read' ? read.operation : null);
    if (safelisted.status === 'reject') return safelisted.response;
    const request = safelisted.request;

    // The version is fixed first, so the entry looked up and the response stored belong to the same graph.
    const version = loading ? await loading : current;
    let cached: ResponseCacheRequest | undefined;
    const operation = safelisted.operation ?? (read.status === 'read' ? read.operation : null);
    // Only a request Apollo Server would accept as it is may be answered
    // without it: a single operation whose envelope the router read in full
    // (readOperationRequest), past CSRF prevention, and with a document
    // Apollo Server can find.
    if (responseCache && operation?.documentHash && passesCsrfPrevention(request)) {
      const documentHash = operation.documentHash;
      const [lookup, query] = await Promise.all([
        responseCache.lookup(
          { ...operation, documentHash },
          { graphId: version.id, accept: request.headers.get('accept') ?? '', viewer },
        ),
        // A hash alone runs only while Apollo Server's APQ store holds its
        // document; once it is gone Apollo Server answers
        // PERSISTED_QUERY_NOT_FOUND, and so must a cached request.
        operation.query ?? (operation.apq === 'lookup' ? registeredQuery(documentHash) : undefined),
      ]);
      metrics.cacheLookup('response', lookup.hit !== null);
      // A registration is Apollo Server's to run, even when its response is
      // cached: answered here, it would register nothing, and the client's
      // next request, by hash alone, would not be found.
      if (lookup.hit && query !== undefined && operation.apq !== 'register') {
        // Served without running, so the name is the one the request gives,
        // or its document's only operation: what Apollo Server would resolve.
        const operationName =
          operation.operationName ?? (rateLimit?.limitsOperations ? soleOperationName(documentHash, query) : null);
        const overLimit =
          rateLimit && rateLimitKey ? await rateLimit.consumeOperation(rateLimitKey, operationName) : null;
        if (overLimit) return rateLimitedResponse(overLimit);
        // Counted under the name the request gives: it is part of the
        // entry's key. A request that names no operation counts as
        // anonymous, even when its one operation has a name.
        observed.operationName = operation.operationName ?? null;
        return lookup.hit;
      }
      if (query !== undefined) cached = lookup.request;
    }
    const response = await version.serve((apollo) =>
      apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: request,
        context: async () => ({
          viewer,
          identity: viewer && identitySigner ? await identitySigner.sign(viewer) : null,
          trusted: safelisted.trusted,
          rateLimitKey,
          requestId: request.headers.get(requestIdHeader) ?? '',
          responseCache: cached,
          observed,
        }),
      }),
    );
    if (cached && responseCache) {
      response.headers.set('x-cache', 'MISS');
      await responseCache.save(cached, response);
    }
    return response;
  }

  /** The document Apollo Server's APQ store holds under this hash (its keys are prefixed `apq:`). */
  async function registeredQuery(hash: string): Promise<string | undefined> {
    try {
      return (await shared.cache.get(`apq:${hash}`)) ?? undefined;
    } catch {
      // A failing cache is a miss: the request goes to Apollo Server.
      return undefined;
    }
  }

  const metricsServed: MetricsEndpoint = metricsEndpoint;
  const metricsUrl = metricsServed.url;
  logger.info({ url: `${listening.url}/graphql`, metrics: metricsUrl, graphId: current.id }, 'router ready');

  const shutdown = stopInOrder([
    {
      name: 'supergraph watcher',
      stop: () => {
        stopping = true;
        watcher?.close();
        clearTimeout(debounce);
      },
    },
    closeHttpServer(server),
    { name: 'supergraph reload', stop: () => reloading },
    { name: 'gateway', stop: () => current.stop() },
    { name: 'cache purging', stop: () => Promise.all(purging.map((subscription) => subscription.stop())) },
    // A bus passed in is the caller's to close.
    { name: 'event bus', stop: () => (settings.eventBus ? undefined : eventBus?.close()) },
    { name: 'shared cache', stop: () => shared.close() },
    // Last: Prometheus can scrape the drain and the stop.
    { name: 'metrics server', stop: () => metricsServed.close() },
  ]);

  return {
    url: `${listening.url}/graphql`,
    port: listening.port,
    graphId: () => current.id,
    reload,
    drain: () => drain(server),
    stop: shutdown.stop,
    stillOpen: shutdown.stillOpen,
    metricsUrl,
  };
}

async function trustedDocumentsFrom(settings: RouterSettings, logger: Logger): Promise<TrustedDocuments> {
  const { mode = 'off', manifestPath = null } = settings.trustedDocuments ?? {};
  const manifest =
    mode !== 'off' && manifestPath ? await loadTrustedDocuments(manifestPath) : new Map<string, string>();
  if (mode !== 'off')
    logger.info({ mode, documents: manifest.size, manifest: manifestPath }, 'trusted documents loaded');
  return new TrustedDocuments({ mode, manifest, logger });
}

const simpleContentTypes = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);
const preflightHeaders = ['apollo-require-preflight', 'x-apollo-operation-name'];

/**
 * Whether Apollo Server's CSRF prevention would let this request through
 * (its rule, restated): a cache hit is served without Apollo Server, so it
 * must not answer what Apollo Server would refuse. A request with a
 * content type other than the three a browser sends without a preflight
 * passes; any other needs a non-empty preflight header.
 */
function passesCsrfPrevention(request: HTTPGraphQLRequest): boolean {
  const contentType = request.headers.get('content-type');
  if (contentType !== undefined && !simpleContentTypes.has(mediaTypeOf(contentType))) return true;
  return preflightHeaders.some((header) => (request.headers.get(header) ?? '') !== '');
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
