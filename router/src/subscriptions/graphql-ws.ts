import type { Server } from 'node:http';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode } from '../../../platform/src/errors.ts';
import type { Logger } from '../../../platform/src/logger.ts';
import { SubscriptionRestart } from '../executor/index.ts';
import {
  atTokenExpiry,
  dispatchSchema,
  resumePositionOf,
  runStreamed,
  type Outcome,
  type StartStreamed,
} from './start.ts';

export interface GraphqlWsOptions {
  server: Server;
  path: string;
  start: StartStreamed;
  logger: Logger;
  /** How long a connection may stay silent before `connection_init`. Default: 10 s. */
  connectionInitTimeoutMs?: number;
  /** Ping interval: a connection whose peer stops answering is closed. Default: 12 s. */
  keepAliveMs?: number;
  /** Subscriptions one connection may carry at once (SubscriptionLimits). */
  perConnection: number;
  /** Bytes a connection may leave unread before it is closed as too slow (SubscriptionLimits). */
  unreadBytes: number;
  /** Told when a connection is closed because its client fell behind. */
  closedSlow: () => void;
  /** Told when a connection is closed because its token expired. */
  closedExpired: () => void;
}

export interface ServedGraphqlWs {
  readonly connections: number;
  /**
   * Closes every connection with 1012 (service restart): graphql-ws
   * clients reconnect (to another instance behind the load balancer) and
   * resume after the last position they received.
   */
  close(): Promise<void>;
}

/** What a stopping router, and a replaced graph, close connections with: clients reconnect and resume. */
const serviceRestart = { code: 1012, reason: 'Service restart: reconnect to resume.' } as const;

/** The keys a client may put in `connection_init`'s payload. */
interface ConnectionParams extends Record<string, unknown> {
  /** `Bearer <token>`, as in an HTTP request's header (also read as `Authorization`). */
  authorization?: string;
  Authorization?: string;
}

/**
 * The graphql-ws protocol (`graphql-transport-ws`) on the router's GraphQL
 * path. Every operation a client sends on a connection runs through the
 * router exactly as an HTTP request would (authentication, trusted
 * documents, limits, rate limits, error masking), with the upgrade
 * request's headers and the connection's `authorization`; a subscription's
 * events then stream on the connection, each with its stream position in
 * `extensions.position`. The token is checked for every operation, and a
 * connection whose token expires is closed with 4401 (Unauthorized).
 */
export function serveGraphqlWs({
  server,
  path,
  start,
  logger,
  connectionInitTimeoutMs = 10_000,
  keepAliveMs = 12_000,
  perConnection,
  unreadBytes,
  closedSlow,
  closedExpired,
}: GraphqlWsOptions): ServedGraphqlWs {
  const sockets = new WebSocketServer({ server, path });
  const serving = useServer<ConnectionParams | undefined, { cancelExpiry?: () => void; operations?: Set<string> }>(
    {
      schema: dispatchSchema,
      connectionInitWaitTimeout: connectionInitTimeoutMs,
      onSubscribe: async (ctx, id, payload) => {
        const operations = (ctx.extra.operations ??= new Set());
        if (operations.size >= perConnection)
          return [
            new GraphQLError(
              `This connection carries ${perConnection} operations, the most allowed. Complete one first.`,
              { extensions: { code: ErrorCode.RateLimited } },
            ),
          ];
        operations.add(id);
        const params = ctx.connectionParams ?? {};
        const authorization = params.authorization ?? params.Authorization;
        const run = await runStreamed(start, ctx.extra.request, payload, {
          protocol: 'graphql-ws',
          authorization: typeof authorization === 'string' ? authorization : null,
          resumeAfter: resumePositionOf(payload.extensions?.resumeAfter),
        });
        // Re-armed by each operation: a token too far from expiry for a timer is followed once a later one
        // comes within reach. One refused before authentication (no viewer) keeps the running ones' timer.
        if (run.viewer) {
          ctx.extra.cancelExpiry?.();
          ctx.extra.cancelExpiry = atTokenExpiry(run.viewer, () => {
            closedExpired();
            ctx.extra.socket.close(CloseCode.Unauthorized, 'The token expired.');
          });
        }
        if ('errors' in run) {
          // Refused: it never counts against the connection.
          operations.delete(id);
          return run.errors as readonly GraphQLError[];
        }
        const outcome = run.args.contextValue as Outcome;
        if (outcome.events) outcome.events = closingOnRestart(outcome.events, ctx.extra.socket);
        return run.args;
      },
      // Closed rather than buffered without bound: the client reconnects and resumes after its last position.
      onNext: (ctx) => {
        if (ctx.extra.socket.bufferedAmount <= unreadBytes) return;
        closedSlow();
        ctx.extra.socket.close(1013, 'SUBSCRIBER_TOO_SLOW');
      },
      onComplete: (ctx, id) => void ctx.extra.operations?.delete(id),
      execute: (args) => (args.contextValue as Outcome).result!,
      subscribe: (args) => (args.contextValue as Outcome).events!,
      onClose: (ctx) => ctx.extra.cancelExpiry?.(),
    },
    sockets,
    keepAliveMs,
  );
  sockets.on('error', (error) => logger.error({ err: error }, 'graphql-ws server failed'));
  return {
    get connections() {
      return sockets.clients.size;
    },
    async close() {
      for (const socket of sockets.clients) socket.close(serviceRestart.code, serviceRestart.reason);
      await serving.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

/**
 * An operation's events, until the graph version serving it stops (a
 * reload replaced it): then its connection closes with 1012, as a stopping
 * router's do, and the client reconnects and subscribes again on the
 * version serving now.
 *
 * The whole connection, not the one operation: graphql-ws has no signal
 * that ends one operation resumably. Its client completes an operation the
 * server completes, and hands the operation's `error` to the application as
 * final; only a closed socket makes it reconnect and resubscribe by itself.
 * A connection that holds no subscription of the replaced version is never
 * closed; one that holds one of each (opened across the reload) loses both,
 * and its client resubscribes both.
 */
function closingOnRestart(
  events: AsyncIterableIterator<ExecutionResult>,
  socket: WebSocket,
): AsyncIterableIterator<ExecutionResult> {
  const done = { done: true, value: undefined } as const;
  return {
    next: () =>
      events.next().catch((error: unknown) => {
        if (!(error instanceof SubscriptionRestart)) throw error;
        socket.close(serviceRestart.code, serviceRestart.reason);
        // graphql-ws then completes the operation, on a socket already closing: the client never sees it.
        return done;
      }),
    return: async () => (await events.return?.()) ?? done,
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
