import { AsyncResource } from 'node:async_hooks';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError, Kind, parse, type DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import { Pool } from 'undici';
import { context, propagation } from '@opentelemetry/api';
import { recordedEventsExtension } from '../../../platform/src/events/index.ts';
import { requestIdHeader } from '../../../platform/src/http/server.ts';
import { utf8Bytes } from '../../../platform/src/http/utf8.ts';
import { identityHeader } from '../../../platform/src/identity.ts';
import type { Logger } from '../../../platform/src/logger.ts';
import { inTracedWork } from '../../../platform/src/tracing.ts';
import { isMergeable, mergeQueries, type SubgraphQuery, type SubgraphResult } from './merge.ts';
import {
  defaultSubgraphPolicy,
  Resilience,
  SubgraphRequestError,
  type ResilienceObserver,
  type SubgraphFetchFailure,
  type SubgraphPolicy,
} from './resilience.ts';

export type { SubgraphFetchFailure };

export interface SubgraphFetchOptions {
  name: string;
  url: string;
  /** Keep-alive connections held open to the subgraph. Default: 64. */
  connections?: number;
  /** Timeout, retries and circuit breaker (see SubgraphPolicy). Default: defaultSubgraphPolicy. */
  policy?: Partial<SubgraphPolicy>;
  /** Told of every request sent to the subgraph, and of its breaker, for metrics. Default: none. */
  observer?: SubgraphFetchObserver | null;
  /** Where the breaker's state changes are logged. Default: nowhere. */
  logger?: Logger | null;
}

export interface SubgraphFetchObserver extends ResilienceObserver {
  /** One HTTP request to `subgraph` ended after `seconds`; `failure` says why it failed, if it did. */
  fetched(subgraph: string, seconds: number, failure: SubgraphFetchFailure | null): void;
}

/** The per-request fields the data source reads from the router's context. */
export interface SubgraphFetchContext {
  /**
   * The signed identity of the caller (see platform/src/identity.ts), sent
   * to the subgraph as the only caller-specific header; null for an
   * anonymous caller. Fetches for different identities are never shared.
   */
  identity?: string | null;
  /**
   * The events the subgraphs recorded while running this request's
   * mutation, as they report them (platform/src/events/recorded.ts); the
   * response cache purges for them before the router answers. Filled here.
   */
  recordedEvents?: unknown[];
  /** The client request's id, forwarded as `x-request-id` so the subgraph's log lines carry it. */
  requestId?: string;
}

/** Who a fetch is for: the identity it carries, which keeps fetches apart, and the request it serves. */
interface Caller {
  identity: string;
  requestId: string;
}

interface RawResponse {
  text: string;
  cacheControl: string | undefined;
}

interface Pending {
  part: SubgraphQuery;
  operationName: string | undefined;
  resolve(result: SubgraphResult & { cacheControl: string | undefined }): void;
  reject(error: unknown): void;
  /** Runs work in the async context of the client request it was queued for (see requestScope). */
  inScope: RequestScope;
}

/** Subgraph operations the gateway generates come back again and again: parse each text once. */
const parsedQueries = new LRUCache<string, DocumentNode>({ max: 5_000 });

/**
 * How the router talks to one subgraph, in place of the gateway's
 * RemoteGraphQLDataSource:
 * - undici keep-alive pools instead of node-fetch;
 * - a deadline on every fetch, retries for queries, and a circuit breaker
 *   (./resilience.ts), so a failing subgraph costs a request its fields
 *   and nothing else: SUBGRAPH_TIMEOUT or SUBGRAPH_UNAVAILABLE;
 * - the queries one client request sends to this subgraph in the same tick
 *   (the parallel fetches of one query-plan step) go as one merged request;
 * - identical queries in flight at once (same body, same caller) are sent
 *   once and their answer shared; each consumer still parses its own copy,
 *   because the gateway merges into the objects it receives.
 * Mutations are never merged or shared: each one is sent as it is.
 */
export class SubgraphFetch implements GraphQLDataSource<SubgraphFetchContext> {
  readonly name: string;
  private readonly pool: Pool;
  private readonly path: string;
  /** Where the subgraph is served; its subscriptions are on the same URL, over WebSocket. */
  readonly url: string;
  private readonly inFlight = new Map<string, Promise<RawResponse>>();
  /** Queries waiting for the end of the tick, grouped by the client request they belong to. */
  private batches = new Map<object, { caller: Caller; pending: Pending[] }>();
  private flushScheduled = false;
  private readonly observer: SubgraphFetchObserver | null;
  private readonly resilience: Resilience;

  constructor({ name, url, connections = 64, policy = {}, observer = null, logger = null }: SubgraphFetchOptions) {
    this.name = name;
    this.url = url;
    this.observer = observer;
    const target = new URL(url);
    this.path = `${target.pathname}${target.search}`;
    const resolved = { ...defaultSubgraphPolicy, ...policy };
    this.pool = new Pool(target.origin, {
      connections,
      // The fetch's own deadline (Resilience) comes first; these only keep a connection from outliving it.
      headersTimeout: resolved.timeoutMs,
      bodyTimeout: resolved.timeoutMs,
      keepAliveTimeout: 30_000,
    });
    this.resilience = new Resilience(name, resolved, { logger, observer });
  }

  async process(options: GraphQLDataSourceProcessOptions<SubgraphFetchContext>): Promise<GatewayGraphQLResponse> {
    const { query, variables = {}, operationName } = options.request;
    if (!query) throw new Error('Missing query');
    if (options.kind !== 'incoming operation') {
      const nobody = { identity: '', requestId: options.context.requestId ?? '' };
      return parseResult(await this.request(JSON.stringify({ query, variables, operationName }), nobody, true));
    }
    const document = options.document ?? parseOnce(query);
    const caller: Caller = { identity: options.context.identity ?? '', requestId: options.context.requestId ?? '' };
    let result: SubgraphResult & { cacheControl: string | undefined };
    if (isMergeable(document)) {
      result = await new Promise((resolve, reject) => {
        const group = options.incomingRequestContext as object;
        let batch = this.batches.get(group);
        if (!batch) this.batches.set(group, (batch = { caller, pending: [] }));
        batch.pending.push({
          part: { query, document, variables },
          operationName,
          resolve,
          reject,
          inScope: inTracedWork() ? requestScope() : runHere,
        });
        this.scheduleFlush();
      });
    } else {
      const body = JSON.stringify({ query, variables, operationName });
      const isMutation = document.definitions.some(
        (definition) => definition.kind === Kind.OPERATION_DEFINITION && definition.operation !== 'query',
      );
      result = parseResult(isMutation ? await this.request(body, caller, false) : await this.sendShared(body, caller));
      if (isMutation) takeRecordedEvents(result, options.context);
    }
    restrictCachePolicy(options.incomingRequestContext.overallCachePolicy, result.cacheControl);
    const { cacheControl: _cacheControl, ...response } = result;
    return response as GatewayGraphQLResponse;
  }

  async close(): Promise<void> {
    this.resilience.close();
    await this.pool.close();
  }

  private scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Parallel fetches of a plan step all start within the current tick's
    // microtasks; setImmediate runs after them, so it sees the whole step.
    setImmediate(() => {
      this.flushScheduled = false;
      const batches = this.batches;
      this.batches = new Map();
      // Sent in the context of the batch's first fetch, not of whichever request scheduled this tick.
      for (const { pending, caller } of batches.values()) void pending[0]!.inScope(() => this.flush(pending, caller));
    });
  }

  private async flush(pending: Pending[], caller: Caller) {
    // Identical parts of one request are sent once.
    const distinct = new Map<string, Pending[]>();
    // One part alone needs no key, which would serialise its variables (often every representation) once more.
    if (pending.length === 1) distinct.set('', pending);
    else
      for (const item of pending) {
        const key = `${item.part.query}\u0000${JSON.stringify(item.part.variables)}`;
        const same = distinct.get(key);
        if (same) same.push(item);
        else distinct.set(key, [item]);
      }
    const groups = [...distinct.values()];
    const settle = (
      group: Pending[],
      outcome: { ok: true; result: SubgraphResult; cacheControl: string | undefined } | { ok: false; error: unknown },
    ) =>
      group.forEach((item, index) => {
        if (!outcome.ok) return item.reject(outcome.error);
        // Every consumer gets its own objects: the gateway merges into what it receives.
        const result = index === 0 ? outcome.result : structuredClone(outcome.result);
        item.resolve({ ...result, cacheControl: outcome.cacheControl });
      });

    if (groups.length === 1) {
      const { part, operationName } = groups[0]![0]!;
      try {
        const body = JSON.stringify({ query: part.query, variables: part.variables, operationName });
        const raw = await this.sendShared(body, caller);
        settle(groups[0]!, { ok: true, result: parseBody(raw.text), cacheControl: raw.cacheControl });
      } catch (error) {
        settle(groups[0]!, { ok: false, error });
      }
      return;
    }

    const merged = mergeQueries(groups.map((group) => group[0]!.part));
    let raw: RawResponse;
    let results: SubgraphResult[];
    try {
      raw = await this.sendShared(JSON.stringify({ query: merged.query, variables: merged.variables }), caller);
      const combined = parseBody(raw.text);
      // A failed non-null root field nulls the whole merged result; sent
      // alone, the other parts would have succeeded, so they are retried alone.
      if (combined.data === null || combined.data === undefined) {
        await Promise.all(groups.map((group) => this.flush(group, caller)));
        return;
      }
      results = merged.split(combined);
    } catch (error) {
      for (const group of groups) settle(group, { ok: false, error });
      return;
    }
    groups.forEach((group, index) =>
      settle(group, { ok: true, result: results[index]!, cacheControl: raw.cacheControl }),
    );
  }

  /** Sends a query body, or joins an identical one already in flight for the same caller. */
  private sendShared(body: string, caller: Caller): Promise<RawResponse> {
    const key = `${caller.identity}\u0000${body}`;
    let inFlight = this.inFlight.get(key);
    if (!inFlight) {
      inFlight = this.request(body, caller, true).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, inFlight);
    }
    return inFlight;
  }

  /** Sends a body under the subgraph's deadline and breaker; only queries (`retry`) are sent again. */
  private request(body: string, caller: Caller, retry: boolean): Promise<RawResponse> {
    return this.resilience.run((signal) => this.send(body, caller, signal), { retry });
  }

  /**
   * Sends one request. Its headers are built here from nothing: no header of
   * the client's (Authorization, Cookie, a forged identity) can reach a subgraph.
   */
  private async send(body: string, caller: Caller, signal: AbortSignal): Promise<RawResponse> {
    const started = performance.now();
    const observe = (failure: SubgraphFetchFailure | null) =>
      this.observer?.fetched(this.name, (performance.now() - started) / 1000, failure);
    let response;
    let text: string;
    try {
      response = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: requestHeaders(caller),
        body: utf8Bytes(body),
        signal,
      });
      text = await response.body.text();
    } catch (error) {
      const failure = signal.aborted || isTimeout(error) ? 'timeout' : 'network';
      observe(failure);
      throw new SubgraphRequestError(
        failure,
        `request to subgraph "${this.name}" at ${this.url} failed: ${(error as Error).message}`,
        null,
        { cause: error },
      );
    }
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    observe(ok ? null : 'status');
    if (response.statusCode >= 500) {
      throw new SubgraphRequestError(
        'status',
        `subgraph "${this.name}" at ${this.url} answered ${response.statusCode}: ${text.slice(0, 200)}`,
        response.statusCode,
      );
    }
    // Anything else unexpected (a 4xx) is a disagreement between router and subgraph, not an outage.
    if (!ok) {
      throw new GraphQLError(`${response.statusCode}: subgraph "${this.name}" answered with an HTTP error`, {
        extensions: { response: { status: response.statusCode, body: text.slice(0, 1000) } },
      });
    }
    const cacheControl = response.headers['cache-control'];
    return { text, cacheControl: Array.isArray(cacheControl) ? cacheControl.join(', ') : cacheControl };
  }
}

type RequestScope = <T>(work: () => T) => T;

const runHere: RequestScope = (work) => work();

/**
 * Captures the calling client request's async context: its trace (the
 * gateway's `gateway.fetch` span is active in `process()`). A merged batch
 * is sent from a setImmediate, which would otherwise run in the context of
 * whichever request happened to schedule it. Untraced, there is no context
 * to keep (the request id travels with the caller), and `runHere` is used.
 */
function requestScope(): RequestScope {
  // A resource of its own rather than AsyncResource.bind, which on Node 20
  // also builds a deprecation wrapper on every call: a hot path, once per fetch.
  const resource = new AsyncResource('shop-graph.subgraph-fetch');
  return (work) => resource.runInAsyncScope(work);
}

/**
 * The headers of one request to a subgraph, built from nothing, so that no
 * header of the client's (Authorization, Cookie, a forged identity) can
 * reach a subgraph: the signed identity, and, of the client request being
 * served, its id (already checked by the HTTP layer) and its W3C trace
 * context, so the subgraph's server span is a child of the fetch. A fetch
 * shared between requests carries the first one's.
 */
function requestHeaders({ identity, requestId }: Caller): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (identity) headers[identityHeader] = identity;
  if (requestId) headers[requestIdHeader] = requestId;
  // A no-op unless tracing is on.
  propagation.inject(context.active(), headers);
  return headers;
}

/** undici's timeouts: no headers, or no body chunk, within `timeoutMs`. */
function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

function parseOnce(query: string): DocumentNode {
  let document = parsedQueries.get(query);
  if (!document) parsedQueries.set(query, (document = parse(query)));
  return document;
}

function parseBody(text: string): SubgraphResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`Expected a JSON response body, but received: ${text.slice(0, 200)}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new Error(`Expected a JSON object response body, but received: ${text.slice(0, 200)}`);
  return body as SubgraphResult;
}

function parseResult(raw: RawResponse): SubgraphResult & { cacheControl: string | undefined } {
  return { ...parseBody(raw.text), cacheControl: raw.cacheControl };
}

/** Moves the events a subgraph reports from its answer to the request's context: they are for the router alone. */
function takeRecordedEvents(result: SubgraphResult, context: SubgraphFetchContext) {
  const events = result.extensions?.[recordedEventsExtension];
  if (events === undefined) return;
  delete result.extensions![recordedEventsExtension];
  if (Array.isArray(events)) (context.recordedEvents ??= []).push(...(events as unknown[]));
}

/**
 * Narrows the request's overall cache policy by the subgraph's answer, as
 * Apollo's data source does: no header means "do not cache".
 */
function restrictCachePolicy(
  policy: { restrict(hint: { maxAge?: number; scope?: 'PUBLIC' | 'PRIVATE' }): void } | undefined,
  header: string | undefined,
) {
  if (!policy) return;
  const hint: { maxAge: number; scope?: 'PUBLIC' | 'PRIVATE' } = { maxAge: 0 };
  for (const directive of (header ?? '').split(',')) {
    const [name, value] = directive.trim().toLowerCase().split('=');
    if (name === 'max-age' && value && /^\d+$/.test(value)) hint.maxAge = Number(value);
    else if (name === 'private') hint.scope = 'PRIVATE';
    else if (name === 'public' && hint.scope === undefined) hint.scope = 'PUBLIC';
    else if (name === 'no-store' || name === 'no-cache') hint.maxAge = 0;
  }
  policy.restrict(hint);
}
