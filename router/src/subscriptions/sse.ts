import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHandler } from 'graphql-sse';
import { ErrorCode } from '../../../platform/src/errors.ts';
import { readBodyBytes } from '../../../platform/src/http/server.ts';
import type { Logger } from '../../../platform/src/logger.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import { SubscriptionRestart } from '../executor/index.ts';
import type { RouterResponse } from '../plugins/plugin.ts';
import {
  atTokenExpiry,
  dispatchSchema,
  resumePositionOf,
  runStreamed,
  type Outcome,
  type StartStreamed,
} from './start.ts';

export interface SseOptions {
  start: StartStreamed;
  logger: Logger;
  /** Largest request body accepted, in bytes. Default: 2 MiB, as the HTTP layer. */
  maxBodyBytes?: number;
  /** Bytes of events a client may leave unread before its stream ends as too slow (SubscriptionLimits). */
  unreadBytes: number;
  /** Told when a stream ends because its client fell behind. */
  closedSlow: () => void;
  /** Told when a stream ends because its token expired. */
  closedExpired: () => void;
}

/** The SSE endpoint: the HTTP layer hands `handle` the GraphQL requests that accept `text/event-stream`. */
export interface SseEndpoint {
  /** Whether a request's `Accept` asks for an event stream. */
  accepts(accept: string): boolean;
  handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void>;
  /** Streams open now. */
  readonly open: number;
  /**
   * Ends every open stream, as a stopping router must: each client
   * reconnects (to another instance) with `Last-Event-ID` and resumes. An
   * end without `complete` is what says so: graphql-sse's client retries a
   * stream that ends while its operation is open, and EventSource always
   * reconnects. A stream whose graph is replaced ends the same way.
   */
  close(): Promise<void>;
}

/**
 * GraphQL over Server-Sent Events (the graphql-sse protocol, "distinct
 * connections" mode: one operation per request) on the router's GraphQL
 * path, for requests that accept `text/event-stream`. An operation runs
 * through the router as a POST with the same headers would. Each event of a
 * subscription is sent with its stream position as the SSE `id`, so a
 * client that reconnects with `Last-Event-ID` (as EventSource does by
 * itself) resumes after it; `extensions.resumeAfter` does the same.
 */
export function sseEndpoint({
  start,
  logger,
  maxBodyBytes = 2 * 1024 * 1024,
  unreadBytes,
  closedSlow,
  closedExpired,
}: SseOptions): SseEndpoint {
  const streams = new Set<ServerResponse>();
  /** The caller each stream's operation was authorized as, for its token's expiry. */
  const viewers = new WeakMap<IncomingMessage, Viewer | null>();
  const handle = createHandler<IncomingMessage, undefined, Outcome>({
    schema: dispatchSchema,
    onSubscribe: async (request, params) => {
      const run = await runStreamed(start, request.raw, params, {
        protocol: 'sse',
        authorization: request.headers.get('authorization') ?? null,
        resumeAfter: resumePositionOf(request.headers.get('last-event-id'), params.extensions?.resumeAfter),
      });
      // Refused by the router (a bad token, a limit, an invalid document): answered as that POST would be.
      if ('errors' in run) return routerAnswer(run.response);
      viewers.set(request.raw, run.viewer);
      return { ...run.args, contextValue: run.args.contextValue as Outcome };
    },
    execute: (args) => args.contextValue.result!,
    subscribe: (args) => args.contextValue.events!,
  });
  const handleRequest = async (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const [body, init] = await handle({
      method: incoming.method ?? 'GET',
      url: incoming.url ?? '/',
      headers: {
        get: (name) => {
          // `accepts` chose this request for its stream: graphql-sse streams for exactly this value.
          if (name.toLowerCase() === 'accept') return 'text/event-stream';
          const value = incoming.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        },
      },
      // Too large: graphql-sse answers 400 with the error's message.
      body: async () => (await readBodyBytes(incoming, maxBodyBytes)).toString('utf8'),
      raw: incoming,
      context: undefined,
    });
    outgoing.writeHead(init.status, init.statusText, init.headers as Record<string, string>);
    if (body === null || typeof body === 'string') {
      outgoing.end(body ?? undefined);
      return;
    }
    // The stream lasts no longer than the token it was authorized with.
    const cancelExpiry = atTokenExpiry(viewers.get(incoming) ?? null, () => {
      closedExpired();
      outgoing.end(expiredMessage);
    });
    // A client that goes away ends the subscription, and with it the subgraph's.
    outgoing.once('close', () => {
      cancelExpiry();
      streams.delete(outgoing);
      void body.return(undefined);
    });
    streams.add(outgoing);
    try {
      for await (const message of body) {
        if (outgoing.destroyed || outgoing.writableEnded) break;
        if (outgoing.writableLength > unreadBytes) {
          // Closed rather than buffered without bound: the client comes back with Last-Event-ID.
          closedSlow();
          outgoing.write(tooSlowMessage);
          break;
        }
        const position = positionOf(message);
        outgoing.write(position ? `id: ${position}\n${message}` : message);
      }
    } catch (error) {
      // The graph serving it was replaced: ended below as `close` ends a stream, with no `complete`.
      if (!(error instanceof SubscriptionRestart)) logger.warn({ err: error }, 'an event stream failed');
    }
    if (!outgoing.writableEnded) outgoing.end();
  };
  return {
    // Only a request that wants the stream alone: one that takes JSON too is an ordinary request's.
    accepts: (accept) => accept.trim().split(/\s*;/)[0] === 'text/event-stream',
    handle: handleRequest,
    get open() {
      return streams.size;
    },
    async close() {
      for (const outgoing of streams) outgoing.end();
      streams.clear();
    },
  };
}

const tooSlowMessage = `event: next\ndata: ${JSON.stringify({
  errors: [
    {
      message: 'This client fell too far behind its events: reconnect to resume after the last one received.',
      extensions: { code: ErrorCode.SubscriberTooSlow },
    },
  ],
})}\n\nevent: complete\ndata:\n\n`;

const expiredMessage = `event: next\ndata: ${JSON.stringify({
  errors: [
    {
      message: 'The token this subscription was authorized with expired: subscribe again with a new one.',
      extensions: { code: ErrorCode.Unauthenticated },
    },
  ],
})}\n\nevent: complete\ndata:\n\n`;

/** A `next` message's event position (`extensions.position`), to send as its SSE `id`. */
function positionOf(message: string): string | null {
  if (!message.startsWith('event: next')) return null;
  const dataAt = message.indexOf('data:');
  if (dataAt === -1) return null;
  try {
    const data = JSON.parse(message.slice(dataAt + 5)) as {
      extensions?: { position?: unknown };
      payload?: { extensions?: { position?: unknown } };
    };
    const position = data.extensions?.position ?? data.payload?.extensions?.position;
    // An id is one line: a position never holds a line break, and one that did would end the field early.
    return typeof position === 'string' && !/[\r\n]/.test(position) ? position : null;
  } catch {
    return null;
  }
}

/** The router's own answer, as graphql-sse hands a response back. */
function routerAnswer(
  response: RouterResponse,
): readonly [string, { status: number; statusText: string; headers: Record<string, string> }] {
  const body = response.body;
  const text = body.kind === 'bytes' ? body.bytes.toString('utf8') : body.kind === 'complete' ? body.string : '';
  return [
    text,
    {
      status: response.status ?? 200,
      statusText: '',
      headers: Object.fromEntries(response.headers),
    },
  ];
}
