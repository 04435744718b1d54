import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeaderMap, type HTTPGraphQLRequest, type HTTPGraphQLResponse } from '@apollo/server';
import { SpanStatusCode } from '@opentelemetry/api';
import { ErrorCode, statusOf } from '../errors.ts';
import { ServiceLifecycle, type LivePhase, type ServicePhase } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import { observeRequest, type Metrics, type ObservedRequest } from '../metrics.ts';
import { inServerSpan } from '../tracing.ts';
import { utf8Bytes } from './utf8.ts';

/** A response whose body is bytes already, such as a cached one: written as they are. */
export interface BytesResponse {
  status: number;
  headers: HeaderMap;
  body: { kind: 'bytes'; bytes: Buffer };
}

/**
 * Executes one GraphQL-over-HTTP request; the router and subgraphs each
 * supply their own. What it learns about the operation it records in
 * `observed` (through the request's context and `Metrics.plugin()`), for
 * the request duration metric.
 */
export type GraphQLHttpHandler = (
  request: HTTPGraphQLRequest,
  incoming: IncomingMessage,
  observed: ObservedRequest,
) => Promise<HTTPGraphQLResponse | BytesResponse>;

/** A JSON endpoint beside GraphQL, such as an admin action; it gets the parsed JSON body. */
export type JsonRouteHandler = (request: {
  method: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}) => Promise<{ status: number; payload: unknown }>;

export interface ReadinessCheck {
  ok: boolean;
  /** Why the check failed, for operators reading the readiness body. */
  detail?: string;
}

export type ReadinessChecks = Record<string, ReadinessCheck>;

export interface HttpServiceOptions {
  graphql: GraphQLHttpHandler;
  /**
   * Named checks behind `/health/ready`, asked in every phase before the
   * stop; the service is ready when it is in the `ready` phase and all pass.
   */
  readiness: (phase: LivePhase) => Promise<ReadinessChecks>;
  /**
   * Where the service is: `/health/ready` reports its phase, and once it
   * drains, answers 503 and every response closes its connection. `drain`
   * and `close` move it on. Default: one that is ready from the start.
   */
  lifecycle?: ServiceLifecycle;
  /**
   * Top-level fields of the readiness JSON beside `status` and `checks`,
   * such as the router's `graphId`: data for tools, not text to parse.
   * Default: none.
   */
  readinessFields?: () => Readonly<Record<string, unknown>>;
  logger: Logger;
  /** Largest request body accepted, in bytes. Default: 2 MiB, as Apollo Router. */
  maxBodyBytes?: number;
  /** Path of the GraphQL endpoint. Default: `/graphql`. */
  graphqlPath?: string;
  /** Further endpoints by exact path. */
  routes?: Record<string, JsonRouteHandler>;
  /** Set on every response, such as security headers. Default: none. */
  responseHeaders?: Readonly<Record<string, string>>;
  /** Browser origins allowed to call this service. Default: none (same-origin only). */
  cors?: CorsOptions | null;
  /**
   * Endpoints for GraphQL requests that ask for a stream (Server-Sent
   * Events, multipart subscriptions): the first whose `accepts` takes the
   * request's `Accept` serves it in place of `graphql`, body and all.
   * Default: none (such requests are `graphql`'s, which refuses them).
   */
  streams?: ReadonlyArray<StreamEndpoint>;
  /**
   * Every GraphQL request is timed into it. It is served by
   * `createMetricsService` on a port of its own, never here: `/metrics` on
   * the public port is 404. Default: none (nothing timed).
   */
  metrics?: Metrics | null;
}

/** A GraphQL endpoint that streams its answer (`HttpServiceOptions.streams`). */
export interface StreamEndpoint {
  accepts(accept: string): boolean;
  handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void>;
}

export interface CorsOptions {
  /** Exact origins, such as `https://shop.example.com`. */
  origins: readonly string[];
  /** Let browsers send cookies and HTTP auth. Default: false. */
  credentials?: boolean;
  /** How long a browser may reuse a preflight answer, in seconds. Default: 600. */
  maxAgeSeconds?: number;
}

/**
 * Sent back on every response and put on the request for the handler: the
 * caller's own id when it is a sane token (so a trace can cross systems),
 * otherwise a fresh one.
 */
export const requestIdHeader = 'x-request-id';
const acceptableRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/** Where Prometheus scrapes, on the metrics port (`createMetricsService`, docker/prometheus/prometheus.yml). */
export const metricsPath = '/metrics';

/** A request refused by the HTTP layer; its status is its code's (`errorCodes`). */
class HttpError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.status = statusOf(code);
  }
}

/** How long a kept-alive connection may sit idle before the server closes it (see `createHttpService`). */
const idleKeepAliveMs = 65_000;

/**
 * The node:http front of a service: health endpoints, then GraphQL at one
 * path. Apollo Server does the protocol work (CSRF prevention, content
 * negotiation, status codes); this layer only reads bounded bodies and
 * writes responses.
 */
export function createHttpService({
  graphql,
  readiness,
  readinessFields = () => ({}),
  logger,
  maxBodyBytes = 2 * 1024 * 1024,
  graphqlPath = '/graphql',
  routes = {},
  responseHeaders = {},
  cors = null,
  metrics = null,
  lifecycle = new ServiceLifecycle(),
  streams = [],
}: HttpServiceOptions): Server {
  const corsOrigins = new Set(cors?.origins ?? []);
  const fixedHeaders = Object.entries(responseHeaders);
  const server: Server = createServer((incoming, outgoing) => {
    handle(incoming, outgoing).catch((error: unknown) => {
      // Only a bug in this file lands here; the client still gets an answer.
      logger.error({ err: error }, 'unhandled error in HTTP layer');
      if (!outgoing.headersSent)
        writeError(outgoing, new HttpError(ErrorCode.InternalServerError, 'Internal server error'));
      else outgoing.destroy();
    });
  });

  // Whoever closes an idle keep-alive connection should be the client: a
  // server that closes first races the client's next request on it, which
  // then fails with a reset ("socket hang up"). Node's 5 s default is below
  // every common client pool (our router's undici keeps 30 s, load balancers
  // 60 s, some gateways' agents never expire idle sockets), so this outlasts
  // them. Shutdown still closes idle connections at once (`close`).
  server.keepAliveTimeout = idleKeepAliveMs;
  server.headersTimeout = idleKeepAliveMs + 1_000;
  const state = trackConnections(server);
  lifecycles.set(server, lifecycle);

  async function handle(incoming: IncomingMessage, outgoing: ServerResponse) {
    // A stopping server answers on this connection, then closes it, so that
    // shutdown does not wait out the keep-alive timeout of every client.
    if (lifecycle.stopping) outgoing.shouldKeepAlive = false;
    // Quiescing: answered once the listener has closed (see `close`).
    if (state.listener.name === 'quiescing') await state.listener.closed;
    const given = incoming.headers[requestIdHeader];
    const requestId = typeof given === 'string' && acceptableRequestId.test(given) ? given : randomUUID();
    incoming.headers[requestIdHeader] = requestId;
    outgoing.setHeader(requestIdHeader, requestId);
    for (const [name, value] of fixedHeaders) outgoing.setHeader(name, value);
    if (applyCors(incoming, outgoing)) return;
    const url = requestTarget(incoming.url);
    if (!url)
      return writeError(outgoing, new HttpError(ErrorCode.BadRequest, 'The request target is not a valid URL.'));
    switch (url.pathname) {
      case '/health':
      case '/health/live':
        return writeJson(outgoing, 200, { status: 'live' });
      case '/health/ready': {
        const phase = lifecycle.phase;
        // Draining: load balancers must stop sending requests here, whatever the checks say.
        if (phase.phase === 'draining' || phase.phase === 'stopped')
          return writeJson(outgoing, 503, { status: 'not ready', ...describePhase(phase), checks: shuttingDown });
        const checks = await readiness(phase).catch((error: unknown): ReadinessChecks => ({
          readiness: { ok: false, detail: String(error) },
        }));
        const ready = phase.phase === 'ready' && Object.values(checks).every((check) => check.ok);
        return writeJson(outgoing, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          ...describePhase(phase),
          ...readinessFields(),
          checks,
        });
      }
      case graphqlPath:
        if (streams.length > 0 && incoming.headers.accept) {
          const accept = incoming.headers.accept;
          const stream = streams.find((endpoint) => endpoint.accepts(accept));
          if (stream) return stream.handle(incoming, outgoing);
        }
        return serveGraphQL(incoming, outgoing, url.search, requestId);
      default: {
        const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
        if (!route)
          return writeError(
            outgoing,
            new HttpError(ErrorCode.NotFound, `Not found. GraphQL is served at ${graphqlPath}.`),
          );
        const body = await readBodyOrAnswer(incoming, outgoing);
        if (body === answered) return;
        const { status, payload } = await route({ method: incoming.method ?? 'GET', headers: incoming.headers, body });
        return writeJson(outgoing, status, payload);
      }
    }
  }

  /**
   * One GraphQL request, timed from here to the last byte written, whatever
   * answers it: in a server span of its own (the caller's trace continued).
   *
   * The request's log fields are the handler's to carry: this layer runs
   * nothing in an AsyncLocalStorage. On Node 20 one store, once used, hooks
   * every promise the process makes, which cost a router 15–25 % of a small
   * request; so the router passes its request id explicitly, and a subgraph
   * runs its handler in `withRequestLogFields`. The line logged here names
   * the request itself.
   */
  function serveGraphQL(incoming: IncomingMessage, outgoing: ServerResponse, search: string, requestId: string) {
    return inServerSpan(incoming, graphqlPath, async (span) => {
      const started = performance.now();
      const observed = observeRequest();
      // Unset when the handler throws: the caller then answers 500.
      let status: number | undefined;
      try {
        await executeGraphQL(incoming, outgoing, search, observed);
        status = outgoing.statusCode;
      } finally {
        const seconds = (performance.now() - started) / 1000;
        metrics?.observeGraphQLRequest(observed, status ?? 500, seconds);
        // Both below are per request: build nothing for a span or a level that records nothing.
        if (span.isRecording()) {
          span.setAttributes({
            'http.response.status_code': status ?? 500,
            'http.request.header.x-request-id': [requestId],
            ...(observed.operationName ? { 'graphql.operation.name': observed.operationName } : {}),
          });
          if ((status ?? 500) >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        }
        // Headers included: the logger's redaction hides credentials among them.
        if (logger.isLevelEnabled('debug'))
          logger.debug(
            {
              requestId,
              ...(observed.operationName ? { operationName: observed.operationName } : {}),
              req: { method: incoming.method, url: incoming.url, headers: incoming.headers },
              status: status ?? 500,
              durationMs: Math.round(seconds * 1000),
            },
            'graphql request',
          );
      }
    });
  }

  /** Reads the request, hands it to the service's handler and writes its answer. */
  async function executeGraphQL(
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    search: string,
    observed: ObservedRequest,
  ) {
    const body = await readBodyOrAnswer(incoming, outgoing);
    if (body === answered) return;
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await graphql(
      { method: (incoming.method ?? 'GET').toUpperCase(), headers, search, body },
      incoming,
      observed,
    );
    const writing = writeGraphQLResponse(outgoing, response);
    if (writing) await writing;
  }

  /**
   * Allows a listed origin; answers a preflight itself (true: answered). An
   * origin not listed gets no CORS headers, so the browser keeps the
   * response from the page.
   */
  function applyCors(incoming: IncomingMessage, outgoing: ServerResponse): boolean {
    const origin = incoming.headers.origin;
    const allowed = origin !== undefined && corsOrigins.has(origin);
    if (cors) outgoing.setHeader('vary', 'Origin');
    if (allowed) {
      outgoing.setHeader('access-control-allow-origin', origin);
      if (cors?.credentials) outgoing.setHeader('access-control-allow-credentials', 'true');
      outgoing.setHeader('access-control-expose-headers', 'x-request-id, x-cache, retry-after');
    }
    if (incoming.method !== 'OPTIONS') return false;
    if (allowed && incoming.headers['access-control-request-method']) {
      outgoing.setHeader('access-control-allow-methods', 'GET, POST');
      outgoing.setHeader(
        'access-control-allow-headers',
        'content-type, authorization, apollo-require-preflight, x-apollo-operation-name, x-request-id',
      );
      outgoing.setHeader('access-control-max-age', String(cors?.maxAgeSeconds ?? 600));
    }
    outgoing.setHeader('allow', 'GET, POST, OPTIONS');
    outgoing.statusCode = 204;
    outgoing.end();
    return true;
  }

  /** The parsed body, or `answered` once a 4xx has been written for an unreadable one. */
  async function readBodyOrAnswer(incoming: IncomingMessage, outgoing: ServerResponse) {
    try {
      return await readBody(incoming, maxBodyBytes);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      // The rest of an oversized body is never read: answer, then drop the connection.
      if (error.status === 413) outgoing.shouldKeepAlive = false;
      writeError(outgoing, error);
      return answered;
    }
  }

  return server;
}

const answered = Symbol('answered');

/** The phase as `/health/ready` shows it: its name, and what a start waits for. */
function describePhase(phase: ServicePhase): { phase: ServicePhase['phase']; waitingFor?: string[] } {
  return phase.phase === 'waiting' ? { phase: phase.phase, waitingFor: phase.for } : { phase: phase.phase };
}

/**
 * Path and query of an origin-form request target (`/graphql?query=…`).
 * Absolute and asterisk forms are refused; origin form is all a client of
 * this service sends, and reading it needs no URL parse on every request.
 */
function requestTarget(target = '/'): { pathname: string; search: string } | null {
  if (!target.startsWith('/') || target.startsWith('//')) return null;
  const queryAt = target.indexOf('?');
  const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
  return { pathname, search: queryAt === -1 ? '' : target.slice(queryAt) };
}

async function readBody(incoming: IncomingMessage, limit: number): Promise<unknown> {
  if (incoming.method === 'GET' || incoming.method === 'HEAD') return undefined;
  const raw = await readBodyBytes(incoming, limit);
  const contentType = incoming.headers['content-type'] ?? '';
  // Apollo Server expects a parsed body for JSON and rejects other content
  // types itself (that is its CSRF prevention), so only JSON is parsed here.
  if (!/^application\/(graphql-response\+)?json\b/i.test(contentType)) return raw.toString('utf8');
  if (raw.length === 0) return undefined;
  if (!isUtf8(raw)) throw new HttpError(ErrorCode.BadRequest, 'Request body is not valid UTF-8.');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(ErrorCode.BadRequest, 'Request body is not valid JSON.');
  }
}

/**
 * A request's body as it came, at most `limit` bytes: past that it is
 * refused with a 413 `HttpError` (its message says the limit), and the rest
 * is never read. The HTTP layer reads bodies with it, and so do the
 * endpoints it hands requests over to unread (the router's event streams).
 */
export function readBodyBytes(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(ErrorCode.PayloadTooLarge, `Request body is larger than ${limit} bytes.`);
  if (Number(incoming.headers['content-length']) > limit) return Promise.reject(tooLarge());
  return new Promise<Buffer>((resolve, reject) => {
    // Plain events rather than `for await`: a small body arrives in one
    // chunk, and an async iterator costs more than the read on the hot path.
    // Once rejected, later events are ignored and the rest is never read.
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    incoming.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      failed = true;
      incoming.pause();
      reject(tooLarge());
    });
    incoming.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    incoming.once('error', (error: Error) => reject(error));
  });
}

/** Writes a response; only a streamed body (multipart, `@defer`) makes a promise. */
function writeGraphQLResponse(
  outgoing: ServerResponse,
  response: HTTPGraphQLResponse | BytesResponse,
): Promise<void> | undefined {
  for (const [name, value] of response.headers) outgoing.setHeader(name, value);
  outgoing.statusCode = response.status ?? 200;
  if (response.body.kind === 'bytes') {
    outgoing.end(response.body.bytes);
    return;
  }
  if (response.body.kind === 'complete') {
    // Encoded once here: handed a string, Node measures its UTF-8 length
    // for Content-Length and then encodes it again to write it.
    const bytes = utf8Bytes(response.body.string);
    outgoing.setHeader('content-length', bytes.length);
    outgoing.end(bytes);
    return;
  }
  return writeChunks(outgoing, response.body.asyncIterator);
}

async function writeChunks(outgoing: ServerResponse, chunks: AsyncIterableIterator<string>): Promise<void> {
  for await (const chunk of chunks) {
    // The client went away: leaving the loop ends the stream's producer (a deferred plan sends no more parts).
    if (outgoing.destroyed) break;
    outgoing.write(chunk);
  }
  outgoing.end();
}

/**
 * `GET /metrics` alone, for its own port (`METRICS_PORT`, on loopback by
 * default): the series name subgraphs, operations, and cache and limit
 * counters, which are for operators, not for anyone who can reach the API.
 */
export function createMetricsService(metrics: Metrics, logger: Logger): Server {
  const server = createServer((incoming, outgoing) => {
    const answer =
      requestTarget(incoming.url)?.pathname === metricsPath
        ? serveMetrics(metrics, incoming, outgoing)
        : Promise.resolve(
            writeError(outgoing, new HttpError(ErrorCode.NotFound, `Not found. Metrics are served at ${metricsPath}.`)),
          );
    answer.catch((error: unknown) => {
      logger.error({ err: error }, 'metrics scrape failed');
      if (!outgoing.headersSent)
        writeError(outgoing, new HttpError(ErrorCode.InternalServerError, 'Internal server error'));
      else outgoing.destroy();
    });
  });
  trackConnections(server);
  return server;
}

/** A metrics listener started by `serveMetricsApart`. */
export interface MetricsEndpoint {
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics; null when metrics are not served. */
  url: string | null;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` on its own listener, as the router and every subgraph
 * do. `where` undefined: loopback on a free port, so processes started side
 * by side never collide; null: not served at all.
 */
export async function serveMetricsApart(
  metrics: Metrics,
  where: { host: string; port: number } | null | undefined,
  logger: Logger,
): Promise<MetricsEndpoint> {
  const { host, port } = where === undefined ? { host: '127.0.0.1', port: 0 } : (where ?? {});
  if (host === undefined || port === undefined) return { url: null, close: async () => {} };
  const server = createMetricsService(metrics, logger);
  const listening = await listen(server, port, host);
  return { url: `${listening.url}${metricsPath}`, close: () => close(server) };
}

/** The scrape answer; only GET and HEAD, as for any read-only resource. */
async function serveMetrics(metrics: Metrics, incoming: IncomingMessage, outgoing: ServerResponse) {
  if (incoming.method !== 'GET' && incoming.method !== 'HEAD') {
    outgoing.setHeader('allow', 'GET, HEAD');
    return writeError(outgoing, new HttpError(ErrorCode.MethodNotAllowed, 'Metrics are read with GET.'));
  }
  const text = await metrics.scrape();
  outgoing.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  outgoing.end(incoming.method === 'HEAD' ? undefined : text);
}

function writeJson(outgoing: ServerResponse, status: number, payload: unknown) {
  outgoing.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  outgoing.end(JSON.stringify(payload));
}

function writeError(outgoing: ServerResponse, error: HttpError) {
  writeJson(outgoing, error.status, { errors: [{ message: error.message, extensions: { code: error.code } }] });
}

export interface Listening {
  url: string;
  port: number;
}

/** Starts listening; port 0 picks a free port, which the result reports. */
export function listen(server: Server, port: number, host: string): Promise<Listening> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
      resolve({ url: `http://${shownHost}:${address.port}`, port: address.port });
    });
  });
}

/**
 * The listening socket, for the requests a server serves: `open`;
 * `quiescing` (about to close: requests wait for `closed` before they are
 * handled, see `close`); `closed` (what was accepted is still answered).
 * The service's own phase (draining, stopped) is its `ServiceLifecycle`'s.
 */
type ListenerState = { name: 'open' } | { name: 'quiescing'; closed: Promise<void> } | { name: 'closed' };

/** What `close` needs to know of a server's connections. */
interface Connections {
  listener: ListenerState;
  /** Every connection accepted and not yet closed. */
  open: Set<Socket>;
  /** Connections with a request being read or answered. */
  busy: Set<Socket>;
  /** Connections that have had a response: between requests, they are idle keep-alive connections. */
  answered: WeakSet<Socket>;
  /** When the listener last accepted a connection (performance.now()). */
  lastAcceptedAt: number;
}

const states = new WeakMap<Server, Connections>();
/** The lifecycle of each server `createHttpService` made, for `drain` and `close`. */
const lifecycles = new WeakMap<Server, ServiceLifecycle>();

/** Follows a service's connections from its creation, for `drain` and `close`. */
function trackConnections(server: Server): Connections {
  const state: Connections = {
    listener: { name: 'open' },
    open: new Set(),
    busy: new Set(),
    answered: new WeakSet(),
    lastAcceptedAt: -Infinity,
  };
  server.on('connection', (socket: Socket) => {
    state.lastAcceptedAt = performance.now();
    state.open.add(socket);
    socket.once('close', () => {
      state.open.delete(socket);
      state.busy.delete(socket);
    });
  });
  server.on('request', (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const socket = incoming.socket;
    state.busy.add(socket);
    outgoing.once('close', () => {
      state.busy.delete(socket);
      state.answered.add(socket);
    });
  });
  // `http.Server.close()` calls this: close only connections idle after a response (see `close`).
  server.closeIdleConnections = () => {
    for (const socket of state.open) if (state.answered.has(socket) && !state.busy.has(socket)) socket.destroy();
  };
  states.set(server, state);
  return state;
}

function stateOf(server: Server): Connections {
  return states.get(server) ?? trackConnections(server);
}

const shuttingDown: ReadinessChecks = { shutdown: { ok: false, detail: 'shutting down' } };

/**
 * How long no connection may have been accepted before the listener
 * closes. A client gets its answer and opens its next connection within
 * this, even on a loaded machine; so once every client is waiting for an
 * answer, none is connecting.
 */
const quietMs = 200;
/** The longest the listener waits for that quiet, for clients that keep connecting: then it closes anyway. */
const maxQuiesceMs = 2_000;

/**
 * Announces a coming `close` by moving the service's lifecycle to
 * `draining`: `/health/ready` answers 503 while every request is still
 * served, and each response closes its connection, so load balancers and
 * keep-alive clients move elsewhere before the listener goes.
 */
export function drain(server: Server): void {
  lifecycles.get(server)?.drain();
}

/** Connections still open, for the log of a stop that overran: after `close`, those with a request in flight. */
export function openConnections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}

/**
 * Stops accepting connections and waits for open requests to finish; their
 * connections close as each response ends. Closing twice is harmless.
 *
 * Every connection accepted is answered, and none is reset. Two things
 * reset connections when a listener simply closes (`server.close()`):
 *
 * - Linux completes the TCP handshake of a connecting client by itself
 *   and queues the connection until the process accepts it. Closing the
 *   listening socket resets every connection still in that queue: the
 *   client has sent its request on a connection it saw open, and gets
 *   ECONNRESET. Under load, with each response closing its connection
 *   (drain) and each client opening its next one at once, a few are
 *   always queued. The listener can only close without resets when
 *   nobody is connecting. So the listener first quiesces: requests that
 *   arrive now wait (they are answered once it has closed), so each client
 *   in turn ends up waiting for an answer instead of opening connections;
 *   when none has been accepted for `quietMs`, Node's accept pass runs once
 *   more (`setImmediate` follows the poll phase that accepts) and the
 *   listener closes right after it, with the queue empty. Anyone
 *   connecting later is refused (ECONNREFUSED): never accepted, nothing
 *   lost. Clients that never stop connecting are given up on after
 *   `maxQuiesceMs`.
 * - `http.Server.close()` also destroys every "idle" connection, and to
 *   Node a connection just accepted whose request has not been read yet
 *   is idle: that request would be answered with a reset. This server's
 *   `closeIdleConnections` closes only connections idle *after* a
 *   response (kept alive, no request under way); a new connection is
 *   answered when its request comes, bounded by Node's `headersTimeout`.
 */
export async function close(server: Server): Promise<void> {
  const state = stateOf(server);
  const lifecycle = lifecycles.get(server);
  // A stop without a drain first is a drain of no length.
  lifecycle?.drain();
  if (state.listener.name === 'quiescing') return state.listener.closed;
  if (!server.listening) return lifecycle?.stop();
  let closeListener = () => {};
  const listenerClosed = new Promise<void>((resolve) => (closeListener = resolve));
  state.listener = { name: 'quiescing', closed: listenerClosed };
  const giveUpAt = performance.now() + maxQuiesceMs;
  for (;;) {
    const quietFor = performance.now() - state.lastAcceptedAt;
    if (quietFor < quietMs && performance.now() < giveUpAt) {
      await sleep(Math.min(quietMs - quietFor, giveUpAt - performance.now()));
      continue;
    }
    const acceptedBefore = state.lastAcceptedAt;
    // Past the next poll phase, where libuv accepts whatever the kernel has queued.
    await new Promise((resolve) => setImmediate(resolve));
    if (state.lastAcceptedAt === acceptedBefore || performance.now() >= giveUpAt) break;
  }
  // Synchronously after that accept pass: only a client connecting at this very instant can be queued.
  // (Linux offers a process no way to stop completing handshakes on a listening socket but closing it:
  // a client that stayed silent through the quiet, then connects while this process is descheduled
  // between the accept pass and the close, is still reset. The quiet makes that a rare coincidence.)
  const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  state.listener = { name: 'closed' };
  closeListener();
  await closed;
  lifecycle?.stop();
}
