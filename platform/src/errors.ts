import { HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/**
 * Every error a client can see carries one of these in `extensions.code`.
 * Apollo Server's own codes (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
 * BAD_REQUEST, ...) pass through unchanged.
 */
export enum ErrorCode {
  BadUserInput = 'BAD_USER_INPUT',
  /** The request itself is malformed: its JSON, its fields, its persisted-query extension. */
  BadRequest = 'BAD_REQUEST',
  /** An automatic persisted query whose text is not the one its sha256Hash names. */
  PersistedQueryHashMismatch = 'PERSISTED_QUERY_HASH_MISMATCH',
  DatabaseUnavailable = 'DATABASE_UNAVAILABLE',
  InternalServerError = 'INTERNAL_SERVER_ERROR',
  /** No caller, or credentials that do not verify. */
  Unauthenticated = 'UNAUTHENTICATED',
  /** A known caller who may not see or do this. */
  Forbidden = 'FORBIDDEN',
  /** Nothing by that id, or nothing this caller may know of. */
  NotFound = 'NOT_FOUND',
  /** The thing exists but is not in a state that allows this (an order already shipped, say). */
  Conflict = 'CONFLICT',
  /** An idempotency key sent again with a different request. */
  IdempotencyKeyReused = 'IDEMPOTENCY_KEY_REUSED',
  /** The first request with this idempotency key is still running; retry shortly. */
  IdempotencyKeyInProgress = 'IDEMPOTENCY_KEY_IN_PROGRESS',
  /** The router gave up waiting for a subgraph; that subgraph's fields are null, the rest is served. */
  SubgraphTimeout = 'SUBGRAPH_TIMEOUT',
  /** The router could not use a subgraph (refused, reset, 5xx, or its circuit is open); the rest is served. */
  SubgraphUnavailable = 'SUBGRAPH_UNAVAILABLE',
}

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
]);

/** A coded error for the client, with a message that says what to do. */
export function clientError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/** The field needs a signed-in caller. */
export function unauthenticated(message = 'Sign in to see this.'): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.Unauthenticated } });
}

/** The caller is known but may not see or do this. */
export function forbidden(message = 'You may not see this.'): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.Forbidden } });
}

/** An argument the client sent is wrong; the message says how to fix it. */
export function badUserInput(message: string, argumentName?: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code: ErrorCode.BadUserInput,
      ...(argumentName ? { argumentName } : {}),
    },
  });
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
 * A request refused before any GraphQL runs: the HTTP status, and one coded
 * error in the GraphQL response shape clients already read.
 */
export function errorResponse(
  status: number,
  error: { message: string; extensions: { code: string } & Record<string, unknown> },
  headers: ReadonlyArray<[string, string]> = [],
): HTTPGraphQLResponse {
  return {
    status,
    headers: new HeaderMap([['content-type', 'application/json; charset=utf-8'], ...headers]),
    body: { kind: 'complete', string: JSON.stringify({ errors: [error] }) },
  };
}

/** Credentials that are not acceptable: 401 with the Bearer challenge (RFC 6750). */
export function unauthenticatedResponse(message: string): HTTPGraphQLResponse {
  return errorResponse(401, { message, extensions: { code: ErrorCode.Unauthenticated } }, [
    ['www-authenticate', 'Bearer error="invalid_token"'],
  ]);
}
