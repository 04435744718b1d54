import type { IncomingMessage } from 'node:http';
import { HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import {
  buildSchema,
  GraphQLError,
  parse,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
} from 'graphql';
import { ErrorCode } from '../../../platform/src/errors.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import type { RouterResponse } from '../plugins/plugin.ts';

/** What a client protocol asks of the router to start one operation (router.ts `startStreamed`). */
export type StartStreamed = (
  http: HTTPGraphQLRequest,
  incoming: IncomingMessage,
  streamed: {
    /** For metrics: graphql-ws, sse or multipart. */
    protocol: string;
    resumeAfter: string | null;
    accept(events: AsyncIterableIterator<ExecutionResult>): void;
  },
) => Promise<{ response: RouterResponse; viewer: Viewer | null }>;

/** One operation as a streaming protocol received it. */
export interface StreamedOperation {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown> | null;
}

/** What the protocol libraries are handed to run: the router already ran the operation; this only hands over the outcome. */
export interface Outcome extends Record<PropertyKey, unknown> {
  result?: ExecutionResult;
  events?: AsyncIterableIterator<ExecutionResult>;
}

/** The operations graphql-ws and graphql-sse dispatch on: they pick `execute` or `subscribe` by the operation type. */
export const dispatchSchema = buildSchema('type Query { _: Boolean } type Subscription { _: Boolean }');
const asQuery = parse('query { _ }');
const asSubscription = parse('subscription { _ }');

/** Headers of an upgrade or a stream request that describe the transport, not the operation. */
const transportHeaders = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
  'content-type',
  'accept',
  'last-event-id',
]);

/**
 * Runs one operation of a streaming protocol through the router as an HTTP
 * POST with the same headers would run (plus `authorization` when the
 * protocol carried it apart), and says what the protocol library should
 * do: stream a subscription's events, send one result, or refuse with
 * errors. The request asks for JSON: a deferred query is answered whole.
 */
export async function runStreamed(
  start: StartStreamed,
  incoming: IncomingMessage,
  operation: StreamedOperation,
  {
    protocol,
    authorization,
    resumeAfter,
  }: { protocol: string; authorization: string | null; resumeAfter: string | null },
): Promise<
  | { args: ExecutionArgs; viewer: Viewer | null; response: RouterResponse }
  | { errors: GraphQLError[]; viewer: Viewer | null; response: RouterResponse }
> {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(incoming.headers))
    if (value !== undefined && !transportHeaders.has(name))
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  headers.set('content-type', 'application/json');
  headers.set('accept', 'application/json');
  if (authorization) headers.set('authorization', authorization);
  const outcome: Outcome = {};
  const http: HTTPGraphQLRequest = {
    method: 'POST',
    headers,
    search: '',
    body: {
      query: operation.query,
      ...(operation.operationName ? { operationName: operation.operationName } : {}),
      ...(operation.variables ? { variables: operation.variables } : {}),
      ...(operation.extensions ? { extensions: operation.extensions } : {}),
    },
  };
  const { response, viewer } = await start(http, incoming, {
    protocol,
    resumeAfter,
    accept: (events) => (outcome.events = events),
  });
  if (outcome.events)
    return { args: { schema: dispatchSchema, document: asSubscription, contextValue: outcome }, viewer, response };
  const result = await bodyOf(response);
  if (!result.data && result.errors?.length)
    return {
      errors: result.errors.map((error) => new GraphQLError(error.message, { extensions: error.extensions })),
      viewer,
      response,
    };
  outcome.result = result as ExecutionResult;
  return { args: { schema: dispatchSchema, document: asQuery, contextValue: outcome }, viewer, response };
}

/** The position a client asked to resume after, where each protocol puts it. */
export function resumePositionOf(...candidates: unknown[]): string | null {
  for (const candidate of candidates) if (typeof candidate === 'string' && candidate !== '') return candidate;
  return null;
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
    errors: [{ message: 'This operation cannot be answered as a stream.', extensions: { code: ErrorCode.BadRequest } }],
  };
}

/**
 * Runs `expire` when the token the caller's operation was authorized with
 * expires; returns what cancels it. A token valid for longer than a timer
 * can wait (about 24 days) is not followed.
 */
export function atTokenExpiry(viewer: Viewer | null, expire: () => void): () => void {
  const exp = viewer?.claims?.exp;
  if (typeof exp !== 'number') return () => {};
  const inMs = exp * 1000 - Date.now();
  if (inMs >= 2 ** 31) return () => {};
  const timer = setTimeout(expire, Math.max(0, inMs)).unref();
  return () => clearTimeout(timer);
}
