import type { Server } from 'node:http';
import { SpanKind } from '@opentelemetry/api';
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  parse,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { closableMap, skip } from '../closable-iterator.ts';
import { ErrorCode, unauthenticated } from '../errors.ts';
import { IdentityError, type IdentityVerifier, type Viewer } from '../identity.ts';
import type { DomainEvent } from '../events/types.ts';
import type { Logger } from '../logger.ts';
import { inSpanContinuing } from '../tracing.ts';

/**
 * What the router sends with each subscription, in the subscribe
 * message's `extensions`: the caller's identity as it signs it for HTTP
 * requests (`x-verified-identity`), and where to resume.
 */
export interface SubscriptionExtensions {
  /** The signed identity; absent for an anonymous caller. */
  identity?: string;
  /**
   * The position of the last event the caller received: the subscription
   * starts after it, replaying what was missed (`StreamReader.tail`).
   */
  resumeAfter?: string;
}

/** Reads an event stream from a position: what subscription resolvers turn into events (the event bus). */
export interface StreamReader {
  tail(options: { stream: string; after?: string }): AsyncIterable<{ position: string; event: DomainEvent }> & {
    close(): Promise<void>;
  };
}

/** What a subscription resolver is told, besides the request context every resolver gets. */
export interface SubscriptionContext {
  /** Set by the router when it resumes a subscription; a field's own `after` argument wins over it. */
  resumeAfter: string | null;
}

/**
 * A source event of a subscription field, as its `subscribe` yields it:
 * `position` names it in its stream, so the router can resume after it;
 * `traceparent`, the trace of the request that recorded it, if traced.
 */
export interface PositionedEvent {
  position: string;
  traceparent?: string;
}

export interface ServeSubscriptionsOptions {
  /** The subgraph's HTTP server: WebSocket upgrades on `path` are taken here. */
  server: Server;
  path: string;
  schema: GraphQLSchema;
  identity: IdentityVerifier;
  /**
   * The request context for one subscription, as an HTTP request gets it:
   * called when it starts, and again for each event, so what a request
   * context caches (DataLoaders) never carries one event's rows to the next.
   */
  contextFor: (viewer: Viewer | null, subscription: SubscriptionContext) => Record<string, unknown>;
  production: boolean;
  logger: Logger;
}

export interface ServedSubscriptions {
  /** Subscriptions open now, across connections. */
  readonly active: number;
  /** Subscriptions started since the subgraph started: only ever grows. */
  readonly started: number;
  /**
   * Ends every connection with 1001 (going away): the router resumes each
   * subscription, after its last event, on another instance.
   */
  close(): Promise<void>;
}

/**
 * Serves the subgraph's subscriptions to the router over graphql-ws on the
 * GraphQL path. The router keeps one connection per subgraph instance and
 * runs every caller's subscriptions on it, each carrying its own signed
 * identity (`SubscriptionExtensions`): a connection is the router's, not a
 * caller's. Each event's result carries its stream position in
 * `extensions.position`, whatever the caller selected.
 */
export function serveSubscriptions({
  server,
  path,
  schema,
  identity,
  contextFor,
  production,
  logger,
}: ServeSubscriptionsOptions): ServedSubscriptions {
  const sockets = new WebSocketServer({ server, path });
  let active = 0;
  let started = 0;
  const serving = useServer<Record<string, unknown> | undefined, { viewers: Map<string, Viewer | null> }>(
    {
      schema,
      isProd: production,
      // The router opens a connection and says hello at once; a silent one is not a router.
      connectionInitWaitTimeout: 10_000,
      onConnect: (ctx) => {
        ctx.extra.viewers = new Map();
      },
      onSubscribe: async (ctx, id, payload) => {
        // Queries and mutations go over HTTP, where the subgraph gates, records events and formats errors.
        let document;
        try {
          document = parse(payload.query);
        } catch {
          return [
            new GraphQLError('The document does not parse.', { extensions: { code: ErrorCode.GraphqlParseFailed } }),
          ];
        }
        if (getOperationAST(document, payload.operationName)?.operation !== 'subscription')
          return [
            new GraphQLError('Only subscriptions are served over this connection.', {
              extensions: { code: ErrorCode.BadRequest },
            }),
          ];
        const extensions = (payload.extensions ?? {}) as SubscriptionExtensions;
        try {
          ctx.extra.viewers!.set(id, await identity.verify(extensions.identity));
        } catch (error) {
          if (!(error instanceof IdentityError)) throw error;
          logger.warn(
            { reason: error.message },
            'refused a subscription with a forwarded identity that does not verify',
          );
          return [unauthenticated('The forwarded identity is not accepted.')];
        }
      },
      context: (ctx, id, payload) => {
        const { resumeAfter } = (payload.extensions ?? {}) as SubscriptionExtensions;
        const viewer = ctx.extra.viewers!.get(id) ?? null;
        const subscription = { resumeAfter: resumeAfter ?? null };
        return { ...contextFor(viewer, subscription), [contextPerEvent]: () => contextFor(viewer, subscription) };
      },
      subscribe: (args) => subscribeWithPositions(args),
      onOperation: () => {
        active++;
        started++;
      },
      onComplete: (ctx, id) => {
        active = Math.max(0, active - 1);
        ctx.extra.viewers?.delete(id);
      },
    },
    sockets,
  );
  sockets.on('error', (error) => logger.error({ err: error }, 'subscription server failed'));
  return {
    get active() {
      return active;
    },
    get started() {
      return started;
    },
    async close() {
      for (const socket of sockets.clients) socket.close(1001, 'Going away');
      await serving.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

/** Where a subscription's context keeps the factory of each event's own context. */
const contextPerEvent = Symbol('context per event');

/**
 * graphql-js's `subscribe`, with each result's `extensions.position` set
 * from its source event: the source stream is made the same way, and each
 * event is executed as graphql-js maps it (the event as the root value).
 * An event recorded by a traced request is executed in a span of that
 * trace, and its `extensions.traceparent` lets the router continue it.
 */
async function subscribeWithPositions(
  args: ExecutionArgs,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return source;
  const events = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const fresh = (args.contextValue as { [contextPerEvent]?: () => unknown } | undefined)?.[contextPerEvent];
  // Closable: when the router completes the subscription, its stream stops at once, not at its next event.
  return closableMap(events, async (event) => {
    const { position, traceparent } = (event ?? {}) as Partial<PositionedEvent>;
    const result = await inSpanContinuing(traceparent, 'subscription.event', { kind: SpanKind.CONSUMER }, async () =>
      execute({ ...args, rootValue: event, contextValue: fresh ? fresh() : args.contextValue }),
    );
    if (typeof position !== 'string') return result;
    return { ...result, extensions: { ...result.extensions, position, ...(traceparent ? { traceparent } : {}) } };
  });
}

export interface StreamEventsOptions<T> {
  stream: string;
  /** The client's own `after` argument: wins over the router's resume position. */
  after?: string | null;
  /** The value for an event the subscriber gets, or null for one it does not (another shopper's, another type). */
  select(event: DomainEvent): T | null;
}

/**
 * A subscription field's source: the events of one stream that `select`
 * keeps, each with its position, from the position asked for (the field's
 * `after`, else where the router resumes it) or from now. A position the
 * stream no longer holds fails the subscription with STREAM_POSITION_EXPIRED:
 * the client refetches, then subscribes from now.
 */
export function streamEvents<T extends object>(
  context: { streams?: StreamReader | null; subscription?: SubscriptionContext },
  { stream, after, select }: StreamEventsOptions<T>,
): AsyncIterableIterator<T & PositionedEvent> {
  const streams = context.streams;
  if (!streams)
    throw new GraphQLError('Subscriptions are unavailable: this service has no event stream. Try again shortly.', {
      extensions: { code: ErrorCode.SubscriptionsUnavailable },
    });
  // The router's position wins: it is where the client got to, past the `after` it first subscribed with.
  const from = context.subscription?.resumeAfter ?? after ?? undefined;
  let tail: ReturnType<StreamReader['tail']>;
  try {
    tail = streams.tail({ stream, ...(from ? { after: from } : {}) });
  } catch (error) {
    // A malformed position is the client's: it came from its `after` or its resume cursor.
    throw new GraphQLError(`"${from}" is not an event position.`, {
      extensions: { code: ErrorCode.BadUserInput },
      originalError: error instanceof Error ? error : undefined,
    });
  }
  const events = tail[Symbol.asyncIterator]();
  return closableMap(
    {
      next: () => events.next().catch((error: unknown) => Promise.reject(asSubscriptionError(error))),
      return: () => events.return?.() ?? Promise.resolve({ done: true as const, value: undefined }),
    },
    ({ position, event }) => {
      const value = select(event);
      if (!value) return skip;
      return event.traceparent ? { ...value, position, traceparent: event.traceparent } : { ...value, position };
    },
    () => void tail.close(),
  );
}

/** A tail's end as the client is told it: a position it must give up, or a reader that fell behind. */
function asSubscriptionError(error: unknown): Error {
  const code = (error as { code?: unknown }).code;
  if (code !== ErrorCode.StreamPositionExpired && code !== ErrorCode.SubscriberTooSlow)
    return error instanceof Error ? error : new Error(String(error));
  return new GraphQLError(
    code === ErrorCode.StreamPositionExpired
      ? 'The events after this position are no longer kept: fetch the current state, then subscribe again from now.'
      : 'The subscriber fell too far behind and was closed: subscribe again after the last position received.',
    { extensions: { code } },
  );
}
