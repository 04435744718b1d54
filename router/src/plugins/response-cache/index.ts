import { HeaderMap, type ApolloServerPlugin, type HTTPGraphQLResponse } from '@apollo/server';
import { Counter, Gauge, type Registry } from 'prom-client';
import { isPromise, type Awaitable } from '../../../../platform/src/awaitable.ts';
import { createEventBus, type EventBus } from '../../../../platform/src/events/index.ts';
import { withStreamPrefix } from '../../../../platform/src/events/stream-prefix.ts';
import type { BytesResponse, JsonRouteHandler } from '../../../../platform/src/http/server.ts';
import { utf8Bytes } from '../../../../platform/src/http/utf8.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import type { OperationRequest } from '../../operation-request.ts';
import type { Viewer } from '../authentication/index.ts';
import {
  isBytesResponse,
  noOverrideLabels,
  type RouterContext,
  type RouterPlugin,
  type RouterRequest,
} from '../plugin.ts';
import { PendingPurges, type PurgeObserver, type PurgeOutcome } from './pending-purges.ts';
import { defaultRefillDelayMs, MemoryResponseStore, RedisResponseStore } from './store.ts';
import { purgeEndpoint } from './purge-endpoint.ts';
import { purgeOnEvents } from './event-purge.ts';
import type { CachedResponse, ResponseStore } from './store.ts';
import { entitiesChangedBy } from './event-purge.ts';
import { entityTags, tagsToPurgeForChanged, tagsToPurgeForEntity } from './tags.ts';

export { MemoryResponseStore, RedisResponseStore, type ResponseStore } from './store.ts';
export type { PurgeObserver, PurgeOutcome } from './pending-purges.ts';

export interface ResponseCacheOptions {
  store: ResponseStore;
  logger: Logger;
  /** Upper bound on any entry's lifetime, whatever the hints say, in seconds. Default: 3600. */
  maxTtlSeconds?: number;
  /** Pause between two tries of a purge the store failed to apply (pending-purges.ts). Default: 500 ms. */
  purgeRetryIntervalMs?: number;
  /** Where failed and pending purges are counted. Default: none. */
  purgeObserver?: PurgeObserver | null;
}

/**
 * Per-request state, carried in the request's context: what the front
 * stage looked up, and what the plugin learned while the request ran.
 */
export interface ResponseCacheRequest {
  /** Key material shared by the public and private variants of this request's entry. */
  readonly material: string;
  readonly viewer: Viewer | null;
  /** The store's purge count before the request read anything; undefined: the response is not stored. */
  readonly generation: number | undefined;
  /** Set by the plugin when the response may be stored. */
  storable?: { maxAgeSeconds: number; scope: 'PUBLIC' | 'PRIVATE'; tags: string[] };
}

/** What to purge: any combination of whole types, single entities, or everything. */
export interface PurgeRequest {
  types?: readonly string[];
  entities?: ReadonlyArray<{ type: string; id: string }>;
  all?: boolean;
}

export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** A lookup's outcome: the entry's key material for storing a miss, and the hit, if any. */
export interface CacheLookup {
  request: ResponseCacheRequest;
  hit: BytesResponse | null;
}

/**
 * The router's whole-response cache. The front stage serves a hit as the
 * exact bytes first sent, before Apollo Server parses anything; on a miss
 * the plugin reads the gateway's combined cache policy (every subgraph's
 * `Cache-Control`, most restrictive wins) and the entities in the result,
 * and the response is stored under those tags. A mutation purges the
 * entities it returns and what the events it recorded changed, on every
 * instance sharing the store, before its response is sent.
 */
export class ResponseCache {
  private readonly store: ResponseStore;
  private readonly logger: Logger;
  private readonly maxTtlSeconds: number;
  /** Purges the store failed to apply: while any is, this instance neither serves nor stores. */
  private readonly pending: PendingPurges;

  constructor({
    store,
    logger,
    maxTtlSeconds = 3600,
    purgeRetryIntervalMs = 500,
    purgeObserver = null,
  }: ResponseCacheOptions) {
    this.store = store;
    this.logger = logger;
    this.maxTtlSeconds = maxTtlSeconds;
    this.pending = new PendingPurges({ store, logger, retryIntervalMs: purgeRetryIntervalMs, observer: purgeObserver });
  }

  /** Whether a purge this instance could not apply is still to be retried: until it is applied, every lookup is a miss. */
  get purgePending(): boolean {
    return this.pending.active;
  }

  /** Stops retrying pending purges. */
  close(): void {
    this.pending.close();
  }

  /**
   * Looks a request up: first the entry every caller shares, then, for a
   * verified viewer, their own. An anonymous caller can never reach a
   * private entry, because only a verified viewer's id makes its key.
   */
  lookup(
    operation: OperationRequest & { documentHash: string },
    context: {
      graphId: string;
      accept: string;
      viewer: Viewer | null;
      /** The request's override labels: with others on, the same query may be planned to other subgraphs. */
      overrideLabels?: ReadonlySet<string>;
    },
  ): Awaitable<CacheLookup> {
    const labels = context.overrideLabels ?? noOverrideLabels;
    const material = [
      context.graphId,
      operation.documentHash,
      operation.operationName ?? '',
      operation.variablesJson,
      context.accept,
      // Only when some are on, so the keys of a graph without labels stay what they were.
      ...(labels.size > 0 ? ['labels', [...labels].sort().join(',')] : []),
    ].join('\0');
    // A purge this instance failed to apply may be for what the store would answer: a miss, and
    // with no generation, nothing stored either.
    if (this.pending.active) return { request: { material, viewer: context.viewer, generation: undefined }, hit: null };
    // Counted before the request reads anything, so a purge while it runs keeps its answer out (store.ts).
    const generation = this.store.generation();
    const publicEntry = this.store.get(publicKey(material));
    if (isPromise(generation) || isPromise(publicEntry))
      return Promise.all([generation, publicEntry]).then(([counted, entry]) =>
        this.lookupPrivate(material, context.viewer, counted, entry),
      );
    return this.lookupPrivate(material, context.viewer, generation, publicEntry);
  }

  /** The public entry when there is one, else the viewer's own. */
  private lookupPrivate(
    material: string,
    viewer: Viewer | null,
    generation: number | undefined,
    publicEntry: CachedResponse | undefined,
  ): Awaitable<CacheLookup> {
    const request: ResponseCacheRequest = { material, viewer, generation };
    if (publicEntry || !viewer) return { request, hit: publicEntry ? cachedHttpResponse(publicEntry) : null };
    const privateEntry = this.store.get(privateKey(material, viewer));
    // No closure on the synchronous path: a hit should allocate only its response.
    return isPromise(privateEntry)
      ? privateEntry.then((cached) => privateHit(request, cached))
      : privateHit(request, privateEntry);
  }

  /**
   * Stores a response the plugin found storable, and answers it as the
   * bytes stored, so the body is encoded once for both; undefined (nothing
   * stored) otherwise.
   */
  async save(request: ResponseCacheRequest, response: HTTPGraphQLResponse): Promise<BytesResponse | undefined> {
    const { storable, generation } = request;
    // Looked up before a purge failed, stored after: what the purge was for may be in it.
    if (!storable || generation === undefined || this.pending.active) return;
    if ((response.status ?? 200) !== 200 || response.body.kind !== 'complete') return;
    const key =
      storable.scope === 'PUBLIC'
        ? publicKey(request.material)
        : request.viewer && privateKey(request.material, request.viewer);
    // Private data without a verified viewer has no one to be cached for.
    if (!key) return;
    const body = utf8Bytes(response.body.string);
    const entry: CachedResponse = {
      body,
      createdAt: Date.now(),
      maxAgeSeconds: Math.min(storable.maxAgeSeconds, this.maxTtlSeconds),
      scope: storable.scope,
      contentType: response.headers.get('content-type') ?? 'application/json; charset=utf-8',
    };
    await this.store.set(key, entry, storable.tags, generation);
    return { status: 200, headers: response.headers, body: { kind: 'bytes', bytes: body } };
  }

  /**
   * Applies a purge now, or, when the store cannot (Redis, or a master of
   * its cluster, unreachable), keeps it and retries it in the background,
   * serving and storing nothing meanwhile (pending-purges.ts).
   */
  async purge({ types = [], entities = [], all = false }: PurgeRequest): Promise<PurgeOutcome> {
    if (all) return this.pending.apply({ kind: 'all' });
    const tags = [...types, ...entities.flatMap(({ type, id }) => tagsToPurgeForEntity(type, id))];
    return tags.length > 0 ? this.pending.apply({ kind: 'tags', tags }) : { applied: true, purged: 0 };
  }

  /**
   * Decides, for each request, whether its response may be stored, and
   * purges what mutations change. Errors and partial data are never stored,
   * nor anything whose combined policy says max-age 0.
   *
   * A mutation purges before its response is sent, so whoever reads after
   * it (the caller, anyone else, on any instance sharing the store) reads
   * past the cache: the entities it returns, and what the events its
   * subgraphs recorded say changed, which names the owners of lists it
   * added to (a new order's shopper, a new review's product and author)
   * even when the mutation's selection does not. This runs even when the
   * mutation failed or returned no data: a write may have committed anyway.
   */
  plugin<TContext extends ResponseCacheContext>(
    stateOf: (context: TContext) => ResponseCacheRequest | undefined,
  ): ApolloServerPlugin<TContext> {
    const cache = this;
    return {
      async requestDidStart() {
        return {
          async willSendResponse({ contextValue, response, operation, document, schema, overallCachePolicy }) {
            if (response.body.kind !== 'single' || !operation || !document) return;
            const { data, errors } = response.body.singleResult;
            const fragments = Object.fromEntries(
              document.definitions.flatMap((definition) =>
                definition.kind === 'FragmentDefinition' ? [[definition.name.value, definition]] : [],
              ),
            );
            if (operation.operation === 'mutation') {
              await cache.purgeForMutation(
                data ? entityTags(schema, operation, fragments, data) : [],
                contextValue.recordedEvents ?? [],
              );
              return;
            }
            const state = stateOf(contextValue);
            if (!data) return;
            const policy = overallCachePolicy.policyIfCacheable();
            if (!state || errors || operation.operation !== 'query' || !policy) return;
            if (policy.scope === 'PRIVATE' && !state.viewer) return;
            state.storable = {
              maxAgeSeconds: policy.maxAge,
              scope: policy.scope === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC',
              tags: [...entityTags(schema, operation, fragments, data)],
            };
          },
        };
      },
    };
  }

  private async purgeForMutation(returned: Iterable<string>, recordedEvents: readonly unknown[]): Promise<void> {
    const changed = recordedEvents.flatMap((event) => (isReportedEvent(event) ? entitiesChangedBy(event) : []));
    const tags = new Set([
      ...tagsToPurgeForChanged(returned),
      ...changed.flatMap(({ type, id }) => tagsToPurgeForEntity(type, id)),
    ]);
    if (tags.size === 0) return;
    const outcome = await this.pending.apply({ kind: 'tags', tags: [...tags] });
    this.logger.debug({ tags: [...tags], ...outcome }, 'mutation purged cached responses');
  }
}

/** What the plugin reads from the request's context. */
export interface ResponseCacheContext {
  /** Events the mutation's subgraphs reported recording (router/src/subgraph-fetch). */
  recordedEvents?: unknown[] | undefined;
}

function isReportedEvent(event: unknown): event is { type: string; payload: unknown } {
  return typeof event === 'object' && event !== null && typeof (event as { type?: unknown }).type === 'string';
}

/** A viewer's own entry, which only a private response can be. */
function privateHit(request: ResponseCacheRequest, cached: CachedResponse | undefined): CacheLookup {
  return { request, hit: cached?.scope === 'PRIVATE' ? cachedHttpResponse(cached) : null };
}

function cachedHttpResponse(cached: CachedResponse): BytesResponse {
  const ageSeconds = Math.max(0, Math.floor((Date.now() - cached.createdAt) / 1000));
  const headers = new HeaderMap([
    ['content-type', cached.contentType],
    // max-age is the lifetime from when the response was made; Age says how
    // much of it is gone, so a CDN or browser keeps it only for the rest.
    ['cache-control', `max-age=${cached.maxAgeSeconds}, ${cached.scope === 'PRIVATE' ? 'private' : 'public'}`],
    ['age', String(ageSeconds)],
    ['x-cache', 'HIT'],
  ]);
  return { status: 200, headers, body: { kind: 'bytes', bytes: cached.body } };
}

// Keys are the material itself: the memory store needs no digest on the
// hot path, and the Redis store hashes keys to a fixed length.
function publicKey(material: string): string {
  return material;
}

function privateKey(material: string, viewer: Viewer): string {
  return `${material}\0viewer\0${viewer.id}`;
}

export interface ResponseCachePluginOptions {
  /**
   * Upper bound on any entry's lifetime, whatever the hints say, in seconds.
   * @default 3600
   */
  maxTtlSeconds?: number;
  /**
   * After a purge, how long responses carrying its tags are not stored, in
   * ms: a subgraph reading from a Postgres replica answers from its past
   * until the replica has replayed the change (store.ts). Keep it above the
   * replicas' replay lag; 0 stores them at once.
   * @default 1000
   */
  refillDelayMs?: number;
  /**
   * Bearer token for `POST /cache/purge`.
   * @default null: the endpoint is off
   */
  purgeToken?: string | null;
  /**
   * The bus whose events purge what changed behind the router. A bus passed
   * in is the caller's to close.
   * @default Redis Streams on the router's Redis, when it has one; else none
   */
  eventBus?: EventBus | null;
  /**
   * Prefix of the event stream names, as the subgraphs use it.
   * @default '' (none)
   */
  eventStreamPrefix?: string;
}

/**
 * The whole-response cache (ResponseCache). In front of Apollo Server it
 * serves a hit as the bytes first stored, after the router read the
 * operation once (operation-request.ts) and only for a request Apollo
 * Server would accept as it is; behind it, the response of a miss is
 * stored when the gateway's cache policy allows. Entries live in Redis
 * when the router has it, so every instance shares them, and the events
 * the subgraphs publish purge them.
 */
export function responseCachePlugin({
  maxTtlSeconds = 3600,
  refillDelayMs = defaultRefillDelayMs,
  purgeToken = null,
  eventBus = null,
  eventStreamPrefix = '',
}: ResponseCachePluginOptions = {}): RouterPlugin {
  let cache: ResponseCache | null = null;
  let storing: ApolloServerPlugin<RouterContext> | null = null;
  let registeredQuery: (hash: string) => Promise<string | undefined> = async () => undefined;
  let countLookup: (hit: boolean) => void = () => {};
  let purgeRoute: JsonRouteHandler | null = null;
  let ownBus: EventBus | null = null;
  let subscriptions: Array<{ stop(): Promise<void> }> = [];
  // The lookup of each request that missed, to store its response under.
  const misses = new WeakMap<RouterRequest, ResponseCacheRequest>();

  /** Serves a hit, or notes the miss so that its response is stored. */
  function answer(request: RouterRequest, lookup: CacheLookup, query: string | undefined) {
    const operation = request.operation!;
    countLookup(lookup.hit !== null);
    if (query === undefined) return;
    // A registration is Apollo Server's to run, even when its response is
    // cached: answered here, it would register nothing, and the client's
    // next request, by hash alone, would not be found.
    if (lookup.hit && operation.apq !== 'register') {
      if (operation.query === undefined) request.operation = { ...operation, query };
      // Counted under the name the request gives: it is part of the
      // entry's key. A request that names no operation counts as
      // anonymous, even when its one operation has a name.
      request.observed.operationName = operation.operationName ?? null;
      return lookup.hit;
    }
    misses.set(request, lookup.request);
    return undefined;
  }

  return {
    name: 'response cache',
    setup({ redis, logger, metrics, cache: shared }) {
      const created = new ResponseCache({
        store: redis
          ? new RedisResponseStore(redis, { refillDelayMs })
          : new MemoryResponseStore(undefined, { refillDelayMs }),
        logger,
        maxTtlSeconds,
        purgeObserver: purgeMetrics(metrics.metrics.registry),
      });
      cache = created;
      storing = created.plugin<RouterContext>((context) => misses.get(context.request));
      countLookup = (hit) => metrics.cacheLookup('response', hit);
      // The document Apollo Server's APQ store holds under this hash (its keys are prefixed `apq:`).
      registeredQuery = async (hash) => {
        try {
          return (await shared.get(`apq:${hash}`)) ?? undefined;
        } catch {
          // A failing cache is a miss: the request goes to Apollo Server.
          return undefined;
        }
      };
      if (purgeToken) purgeRoute = purgeEndpoint(created, purgeToken, logger);
      // With the cache and the event streams in Redis, what changes behind the router is purged too.
      ownBus =
        eventBus || !redis
          ? null
          : withStreamPrefix(createEventBus({ redis: redis.connection, logger }), eventStreamPrefix);
      const bus = eventBus ?? ownBus;
      subscriptions = bus ? purgeOnEvents({ bus, cache: created, logger }) : [];
    },
    // Not async: with the in-process store a hit is found and returned with no promise made.
    onOperation(request) {
      const operation = request.operation;
      // Only a request Apollo Server would accept as it is may be answered
      // without it: a single operation whose envelope the router read in
      // full, past CSRF prevention, and with a document Apollo Server can find.
      if (!cache || !operation?.documentHash || !operation.passesCsrfPrevention) return;
      const documentHash = operation.documentHash;
      const lookup = cache.lookup(
        { ...operation, documentHash },
        {
          graphId: request.graphId,
          accept: request.http.headers.get('accept') ?? '',
          viewer: request.viewer,
          overrideLabels: request.overrideLabels,
        },
      );
      // A hash alone runs only while Apollo Server's APQ store holds its
      // document; once it is gone Apollo Server answers
      // PERSISTED_QUERY_NOT_FOUND, and so must a cached request.
      const query = operation.query ?? (operation.apq === 'lookup' ? registeredQuery(documentHash) : undefined);
      if (isPromise(lookup) || isPromise(query))
        return Promise.all([lookup, query]).then(([found, document]) => answer(request, found, document));
      return answer(request, lookup, query);
    },
    // Not async: a hit, the request this cache exists for, returns at once, with no promise to settle.
    onResponse(request, response, answeredBy) {
      const miss = misses.get(request);
      if (!cache || !miss || answeredBy !== 'gateway' || isBytesResponse(response)) return;
      response.headers.set('x-cache', 'MISS');
      return cache.save(miss, response);
    },
    apollo: {
      requestDidStart: async (requestContext) => storing?.requestDidStart?.(requestContext),
    },
    routes: purgeToken ? { '/cache/purge': (request) => purgeRoute!(request) } : {},
    stops: [
      {
        name: 'cache purging',
        stop: async () => {
          await Promise.all(subscriptions.map((subscription) => subscription.stop()));
          cache?.close();
        },
      },
      // A bus passed in is the caller's to close.
      { name: 'event bus', stop: () => ownBus?.close() },
    ],
  };
}

/**
 * The series of purges the store failed to apply, registered beside the
 * router's (docs/scaling.md, Redis Cluster): a purge pending means this
 * instance serves nothing from its cache.
 */
function purgeMetrics(registry: Registry): PurgeObserver {
  const failed = new Counter({
    name: 'router_response_cache_purge_failures_total',
    help: 'Response cache purges the store could not apply when asked (Redis, or a master of its cluster, unreachable); each is kept and retried.',
    registers: [registry],
  });
  const pending = new Gauge({
    name: 'router_response_cache_purge_pending',
    help: '1 while this router holds purges it could not apply yet, and so serves and stores nothing from its response cache; 0 otherwise.',
    registers: [registry],
  });
  pending.set(0);
  return { purgeFailed: () => failed.inc(), purgesPending: (isPending) => pending.set(isPending ? 1 : 0) };
}
