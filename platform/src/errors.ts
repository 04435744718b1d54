import { HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/**
 * Every error a client can see carries one of these in `extensions.code`,
 * and `errorCodes` says when each is used and with which HTTP status. The
 * README's error table is generated from it (`npm run errors:table`).
 * Apollo Server's own codes are listed too: clients see them the same way.
 */
export enum ErrorCode {
  BadUserInput = 'BAD_USER_INPUT',
  BadRequest = 'BAD_REQUEST',
  GraphqlParseFailed = 'GRAPHQL_PARSE_FAILED',
  GraphqlValidationFailed = 'GRAPHQL_VALIDATION_FAILED',
  OperationResolutionFailure = 'OPERATION_RESOLUTION_FAILURE',
  PersistedQueryNotFound = 'PERSISTED_QUERY_NOT_FOUND',
  PersistedQueryHashMismatch = 'PERSISTED_QUERY_HASH_MISMATCH',
  PersistedQueryNotInList = 'PERSISTED_QUERY_NOT_IN_LIST',
  QueryNotInSafelist = 'QUERY_NOT_IN_SAFELIST',
  MaxDepthExceeded = 'MAX_DEPTH_EXCEEDED',
  MaxAliasesExceeded = 'MAX_ALIASES_EXCEEDED',
  MaxDirectivesExceeded = 'MAX_DIRECTIVES_EXCEEDED',
  MaxTokensExceeded = 'MAX_TOKENS_EXCEEDED',
  CostLimitExceeded = 'COST_LIMIT_EXCEEDED',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  NotFound = 'NOT_FOUND',
  MethodNotAllowed = 'METHOD_NOT_ALLOWED',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  Conflict = 'CONFLICT',
  IdempotencyKeyReused = 'IDEMPOTENCY_KEY_REUSED',
  IdempotencyKeyInProgress = 'IDEMPOTENCY_KEY_IN_PROGRESS',
  RateLimited = 'RATE_LIMITED',
  DatabaseUnavailable = 'DATABASE_UNAVAILABLE',
  SubgraphTimeout = 'SUBGRAPH_TIMEOUT',
  SubgraphUnavailable = 'SUBGRAPH_UNAVAILABLE',
  StreamPositionExpired = 'STREAM_POSITION_EXPIRED',
  SubscriberTooSlow = 'SUBSCRIBER_TOO_SLOW',
  SubscriptionsUnavailable = 'SUBSCRIPTIONS_UNAVAILABLE',
  ServiceRestart = 'SERVICE_RESTART',
  CachePurgePending = 'CACHE_PURGE_PENDING',
  InternalServerError = 'INTERNAL_SERVER_ERROR',
}

export interface ErrorCodeUse {
  /**
   * The HTTP status of a response that this error refuses as a whole, before
   * or instead of execution; `null` when it never does.
   */
  status: number | null;
  /**
   * Also raised by a field: the field is null, the rest of the response is
   * served, and the status is 200 as GraphQL over HTTP asks.
   */
  field: boolean;
  /** When a client gets it, for the README. */
  when: string;
}

export const errorCodes: Readonly<Record<ErrorCode, ErrorCodeUse>> = {
  [ErrorCode.BadUserInput]: {
    status: 400,
    field: true,
    when: 'An argument or variable is wrong; the message says which and how: `first` above 100, a malformed or foreign cursor, a negative or inverted price filter, a malformed id',
  },
  [ErrorCode.BadRequest]: {
    status: 400,
    field: false,
    when: 'A malformed request: not JSON or not UTF-8, a `persistedQuery` that is not `{ version: 1, sha256Hash }`, JSON nested deeper than 64 levels',
  },
  [ErrorCode.GraphqlParseFailed]: { status: 400, field: false, when: 'The operation does not parse' },
  [ErrorCode.GraphqlValidationFailed]: {
    status: 400,
    field: false,
    when: 'The operation is not valid against the schema',
  },
  [ErrorCode.OperationResolutionFailure]: {
    status: 400,
    field: false,
    when: 'The document has no operation by the `operationName` sent, or several and no name',
  },
  [ErrorCode.PersistedQueryNotFound]: {
    status: 200,
    field: false,
    when: 'An automatic persisted query the router does not know yet: send it again with its text',
  },
  [ErrorCode.PersistedQueryHashMismatch]: {
    status: 400,
    field: false,
    when: "An APQ request's query is not the text its `extensions.persistedQuery.sha256Hash` names",
  },
  [ErrorCode.PersistedQueryNotInList]: {
    status: 400,
    field: false,
    when: 'Trusted documents are enforced and the id sent names no trusted operation',
  },
  [ErrorCode.QueryNotInSafelist]: {
    status: 400,
    field: false,
    when: 'Trusted documents are enforced and the request sends a document instead of a trusted id',
  },
  [ErrorCode.MaxDepthExceeded]: {
    status: 400,
    field: false,
    when: 'The operation nests deeper than `QUERY_MAX_DEPTH`; `extensions.limit`, and in development `extensions.found`',
  },
  [ErrorCode.MaxAliasesExceeded]: {
    status: 400,
    field: false,
    when: 'The operation has more aliases than `QUERY_MAX_ALIASES`',
  },
  [ErrorCode.MaxDirectivesExceeded]: {
    status: 400,
    field: false,
    when: 'The operation has more directives than `QUERY_MAX_DIRECTIVES`',
  },
  [ErrorCode.MaxTokensExceeded]: {
    status: 400,
    field: false,
    when: 'The document has more tokens than `QUERY_MAX_TOKENS`',
  },
  [ErrorCode.CostLimitExceeded]: {
    status: 400,
    field: false,
    when: "The operation's estimated cost, with its variables, is over `QUERY_MAX_COST`",
  },
  [ErrorCode.Unauthenticated]: {
    status: 401,
    field: true,
    when: 'A bearer token is malformed, expired, not signed with the right key, or has a claim of the wrong type (401); or a field needs a signed-in caller',
  },
  [ErrorCode.Forbidden]: {
    status: null,
    field: true,
    when: 'A field needs a scope or ownership this caller lacks',
  },
  [ErrorCode.NotFound]: {
    status: 404,
    field: true,
    when: 'A path the service does not serve (404); or a mutation names something this caller has not got',
  },
  [ErrorCode.MethodNotAllowed]: {
    status: 405,
    field: false,
    when: 'An endpoint called with a method it does not take',
  },
  [ErrorCode.PayloadTooLarge]: { status: 413, field: false, when: 'A request body over 2 MiB' },
  [ErrorCode.Conflict]: {
    status: null,
    field: true,
    when: 'The write clashes with what is there: a second review of the same product, a username someone else has, an order that can no longer be cancelled',
  },
  [ErrorCode.IdempotencyKeyReused]: {
    status: null,
    field: true,
    when: 'An idempotency key sent again with a different request',
  },
  [ErrorCode.IdempotencyKeyInProgress]: {
    status: null,
    field: true,
    when: 'The first request with this idempotency key is still running; retry shortly',
  },
  [ErrorCode.RateLimited]: {
    status: 429,
    field: false,
    when: 'The caller is over its allowance; `Retry-After` says when to try again',
  },
  [ErrorCode.DatabaseUnavailable]: {
    status: 503,
    field: true,
    when: 'A subgraph cannot reach its database; the rest of the response is still served (503 while it is still starting)',
  },
  [ErrorCode.SubgraphTimeout]: {
    status: null,
    field: true,
    when: 'The router stopped waiting for a subgraph (`SUBGRAPH_TIMEOUT_MS`); `extensions.subgraph` names it, outside production',
  },
  [ErrorCode.SubgraphUnavailable]: {
    status: null,
    field: true,
    when: 'A subgraph refused or dropped the connection, gave a 5xx, or its breaker is open; `extensions.subgraph` names it, outside production',
  },
  [ErrorCode.StreamPositionExpired]: {
    status: null,
    field: true,
    when: 'A subscription asked to resume after a position its event stream no longer keeps: fetch the current state, then subscribe from now',
  },
  [ErrorCode.SubscriberTooSlow]: {
    status: null,
    field: true,
    when: 'A subscriber fell too far behind its event stream and was closed: subscribe again after the last position received',
  },
  [ErrorCode.SubscriptionsUnavailable]: {
    status: null,
    field: true,
    when: 'The subgraph that owns a subscription has no event stream to read right now',
  },
  [ErrorCode.ServiceRestart]: {
    status: 503,
    field: false,
    when: 'The router serving a multipart subscription is stopping, or replacing its graph: subscribe again after the last event received',
  },
  [ErrorCode.CachePurgePending]: {
    status: 503,
    field: false,
    when: '`POST /cache/purge` could not reach the response cache’s Redis (or a master of its cluster): the router keeps the purge and retries it every 500 ms, and serves nothing from its cache until it is applied',
  },
  [ErrorCode.InternalServerError]: {
    status: 500,
    field: true,
    when: 'Anything unexpected; in production the message is generic and the details go to the log',
  },
};

/**
 * Codes written for clients: their message says what the client did or
 * can do, so the router passes them from subgraphs as they are. Any other
 * code from a subgraph is treated as internal.
 */
export const clientErrorCodes: ReadonlySet<string> = new Set([
  ErrorCode.BadUserInput,
  ErrorCode.DatabaseUnavailable,
  ErrorCode.Unauthenticated,
  ErrorCode.Forbidden,
  ErrorCode.NotFound,
  ErrorCode.Conflict,
  ErrorCode.IdempotencyKeyReused,
  ErrorCode.IdempotencyKeyInProgress,
  ErrorCode.SubgraphTimeout,
  ErrorCode.SubgraphUnavailable,
  ErrorCode.StreamPositionExpired,
  ErrorCode.SubscriberTooSlow,
  ErrorCode.SubscriptionsUnavailable,
]);

/**
 * The one way to build a coded error for the client, with a message that
 * says what to do. Extra `extensions` (the argument's name, a limit) ride
 * along after the code.
 */
export function clientError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/** The field needs a signed-in caller. */
export function unauthenticated(message = 'Sign in to see this.'): GraphQLError {
  return clientError(ErrorCode.Unauthenticated, message);
}

/** The caller is known but may not see or do this. */
export function forbidden(message = 'You may not see this.'): GraphQLError {
  return clientError(ErrorCode.Forbidden, message);
}

/** An argument the client sent is wrong; the message says how to fix it. */
export function badUserInput(message: string, argumentName?: string): GraphQLError {
  return clientError(ErrorCode.BadUserInput, message, argumentName ? { argumentName } : {});
}

/** The status a code refuses a whole request with; a code that never does is a bug in the caller. */
export function statusOf(code: ErrorCode): number {
  const { status } = errorCodes[code];
  if (status === null) throw new Error(`${code} never refuses a whole request; it has no HTTP status of its own`);
  return status;
}

// SQLSTATE classes and driver codes that mean "the database cannot be reached
// right now", as opposed to a bug in a query.
const unavailableSqlStates = /^(08|53|57P0[1-3])/;
const unavailableNetworkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  // Drivers and drizzle wrap errors; walk the cause chain.
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (unavailableNetworkCodes.has(code) || unavailableSqlStates.test(code))) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export interface FormatErrorOptions {
  /**
   * The database this service owns, named in `DATABASE_UNAVAILABLE`
   * messages. Default: none, so connection errors (a router failing to
   * reach a subgraph, say) are not mistaken for a lost database.
   */
  database?: string;
  /** Replace uncoded errors with a generic message. Default: on. */
  maskInternalErrors?: boolean;
  /** Receives every error that gets masked, for the log. */
  onInternalError?: (error: unknown) => void;
}

/**
 * Builds Apollo Server's `formatError`: coded errors pass through, a lost
 * database becomes `DATABASE_UNAVAILABLE`, and anything else is an internal
 * error whose message and stack stay in the log when masking is on.
 */
export function createErrorFormatter({ database, maskInternalErrors = true, onInternalError }: FormatErrorOptions) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    // The thrown error, not graphql-js's wrapper: that is what the log needs.
    const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
    if (database && isDatabaseUnavailable(original)) {
      onInternalError?.(original);
      return {
        message: `The ${database} database is unavailable. Try again shortly.`,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { code: ErrorCode.DatabaseUnavailable },
      };
    }
    const code = formatted.extensions?.code;
    if (code && code !== ErrorCode.InternalServerError) return formatted;
    onInternalError?.(original);
    if (!maskInternalErrors) return formatted;
    return {
      message: 'Internal server error',
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: ErrorCode.InternalServerError },
    };
  };
}

/**
 * A request refused before any GraphQL runs: the code's HTTP status, and one
 * coded error in the GraphQL response shape clients already read.
 */
export function errorResponse(
  code: ErrorCode,
  message: string,
  {
    extensions = {},
    headers = [],
  }: { extensions?: Record<string, unknown>; headers?: ReadonlyArray<[string, string]> } = {},
): HTTPGraphQLResponse {
  return {
    status: statusOf(code),
    headers: new HeaderMap([['content-type', 'application/json; charset=utf-8'], ...headers]),
    body: { kind: 'complete', string: JSON.stringify({ errors: [{ message, extensions: { code, ...extensions } }] }) },
  };
}

/** Credentials that are not acceptable: 401 with the Bearer challenge (RFC 6750). */
export function unauthenticatedResponse(message: string): HTTPGraphQLResponse {
  return errorResponse(ErrorCode.Unauthenticated, message, {
    headers: [['www-authenticate', 'Bearer error="invalid_token"']],
  });
}
