import type { IncomingMessage, Server } from 'node:http';
import { HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import {
  buildSchema,
  GraphQLError,
  parse,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { ErrorCode } from '../../../platform/src/errors.ts';
import type { Logger } from '../../../platform/src/logger.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import type { RouterResponse } from '../plugins/plugin.ts';

/** What a client protocol asks of the router to start one operation (router.ts `startStreamed`). */
export type StartStreamed = (
  http: HTTPGraphQLRequest,
  incoming: IncomingMessage,
  streamed: {
    resumeAfter: string | null;
    accept(events: AsyncGenerator<ExecutionResult>): void;
  },
) => Promise<{ response: RouterResponse; viewer: Viewer | null }>;

export interface GraphqlWsOptions {
  server: Server;
  path: string;
  start: StartStreamed;
  logger: Logger;
  /** How long a connection may stay silent before `connection_init`. Default: 10 s. */
  connectionInitTimeoutMs?: number;
  /** Ping interval: a connection whose peer stops answering is closed. Default: 12 s. */
  keepAliveMs?: number;
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

/** What graphql-ws is handed to run: the router already ran the operation; this only hands over the outcome. */
interface Outcome {
  result?: ExecutionResult;
  events?: AsyncGenerator<ExecutionResult>;
}

/** The operations graphql-ws dispatches on: it picks `execute` or `subscribe` by the operation type it finds. */
const dispatchSchema = buildSchema('type Query { _: Boolean } type Subscription { _: Boolean }');
const asQuery = parse('query { _ }');
const asSubscription = parse('subscription { _ }');

/** The keys a client may put in `connection_init`'s payload. */
interface ConnectionParams extends Record<string, unknown> {
  /** `Bearer <token>`, as in an HTTP request's header (also read as `Authorization`). */
  authorization?: string;
  Authorization?: string;
  /** Resume every subscription of this connection after this position. */
  resumeAfter?: string;
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
}: GraphqlWsOptions): ServedGraphqlWs {
  const sockets = new WebSocketServer({ server, path });
  const serving = useServer<ConnectionParams | undefined, { expiry?: NodeJS.Timeout }>(
    {
      schema: dispatchSchema,
      connectionInitWaitTimeout: connectionInitTimeoutMs,
      onSubscribe: async (ctx, _id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
        const params = ctx.connectionParams ?? {};
        const headers = new HeaderMap();
        for (const [name, value] of Object.entries(ctx.extra.request.headers))
          if (value !== undefined && !hopByHop.has(name))
            headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        headers.set('content-type', 'application/json');
        headers.set('accept', 'application/json');
        const authorization = params.authorization ?? params.Authorization;
        if (typeof authorization === 'string') headers.set('authorization', authorization);
        const extensions = (payload.extensions ?? {}) as { resumeAfter?: unknown };
        const resumeAfter =
          typeof extensions.resumeAfter === 'string'
            ? extensions.resumeAfter
            : typeof params.resumeAfter === 'string'
              ? params.resumeAfter
              : null;
        const outcome: Outcome = {};
        const http: HTTPGraphQLRequest = {
          method: 'POST',
          headers,
          search: '',
          body: {
            query: payload.query,
            ...(payload.operationName ? { operationName: payload.operationName } : {}),
            ...(payload.variables ? { variables: payload.variables } : {}),
            ...(payload.extensions ? { extensions: payload.extensions } : {}),
          },
        };
        const { response, viewer } = await start(http, ctx.extra.request, {
          resumeAfter,
          accept: (events) => (outcome.events = events),
        });
        expireWithToken(ctx.extra, viewer, () => ctx.extra.socket.close(CloseCode.Unauthorized, 'The token expired.'));
        if (outcome.events) return { schema: dispatchSchema, document: asSubscription, contextValue: outcome };
        const result = await bodyOf(response);
        if (!result.data && result.errors?.length)
          return result.errors.map((error) => new GraphQLError(error.message, { extensions: error.extensions }));
        outcome.result = result as ExecutionResult;
        return { schema: dispatchSchema, document: asQuery, contextValue: outcome };
      },
      execute: (args) => (args.contextValue as Outcome).result!,
      subscribe: (args) => (args.contextValue as Outcome).events!,
      onClose: (ctx) => clearTimeout(ctx.extra.expiry),
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
      for (const socket of sockets.clients) socket.close(1012, 'Service restart: reconnect to resume.');
      await serving.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

/** Headers of the upgrade that describe the WebSocket handshake, not the operation. */
const hopByHop = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
]);

/** Closes the connection when the token its operations were authorized with expires. */
function expireWithToken(extra: { expiry?: NodeJS.Timeout }, viewer: Viewer | null, expire: () => void) {
  const exp = viewer?.claims?.exp;
  if (typeof exp !== 'number') return;
  const inMs = exp * 1000 - Date.now();
  clearTimeout(extra.expiry);
  // setTimeout holds 32-bit delays: a token valid for longer is checked again by its next operation.
  if (inMs < 2 ** 31) extra.expiry = setTimeout(expire, Math.max(0, inMs)).unref();
}

async function bodyOf(response: RouterResponse): Promise<FormattedExecutionResult> {
  const body = response.body;
  try {
    if (body.kind === 'bytes') return JSON.parse(body.bytes.toString('utf8')) as FormattedExecutionResult;
    if (body.kind === 'complete') return JSON.parse(body.string) as FormattedExecutionResult;
  } catch {
    // Not JSON: answered below as the router's own failure.
  }
  return {
    errors: [
      {
        message: 'This operation cannot be answered over a WebSocket.',
        extensions: { code: ErrorCode.BadRequest },
      },
    ],
  };
}
