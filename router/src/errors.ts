import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { clientErrorCodes, createErrorFormatter, ErrorCode } from '../../platform/src/errors.ts';
import type { Logger } from '../../platform/src/logger.ts';
import { formatQueryLimitError } from './plugins/query-limits/index.ts';

export interface ErrorsContext {
  /** The request's id, also in the `x-request-id` response header and the log. */
  requestId?: string;
}

/**
 * The router's `formatError`: coded errors of its own pass, errors from
 * subgraphs pass only with a code written for clients (`clientErrorCodes`),
 * and everything else becomes
 * INTERNAL_SERVER_ERROR with no message or stack outside development.
 */
export function routerErrorFormatter({ production }: { production: boolean }) {
  const format = createErrorFormatter({ maskInternalErrors: production });
  return (raw: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const limited = formatQueryLimitError(raw, error, production);
    const formatted = {
      ...limited,
      message: inOurWords(limited.message),
      ...(isRequestError(limited, error) ? { extensions: { ...limited.extensions, code: ErrorCode.BadRequest } } : {}),
    };
    const fromSubgraph = typeof formatted.extensions?.serviceName === 'string';
    const code = formatted.extensions?.code;
    if (fromSubgraph && !(typeof code === 'string' && clientErrorCodes.has(code))) {
      if (!production) return formatted;
      return {
        message: 'Internal server error',
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { code: ErrorCode.InternalServerError },
      };
    }
    // Which subgraph answered is the graph's inside: clients see one graph.
    if (production && fromSubgraph) {
      const { serviceName: _serviceName, ...extensions } = formatted.extensions ?? {};
      return format({ ...formatted, extensions }, error);
    }
    return format(formatted, error);
  };
}

/**
 * An error Apollo Server raised about the request itself (it marks those
 * with a 4xx status) but gave no code: the client's mistake, so
 * BAD_REQUEST rather than an internal error. The router refuses the ones
 * it knows of before Apollo Server (operation-request.ts); this keeps any
 * other from being masked and logged as a fault.
 */
function isRequestError(formatted: GraphQLFormattedError, error: unknown): boolean {
  if (formatted.extensions?.code !== undefined || !(error instanceof GraphQLError)) return false;
  return isClientStatus(error);
}

function isClientStatus(error: GraphQLError): boolean {
  const status = (error.extensions?.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * Apollo Server's messages that name it, in words about this service:
 * responses name no vendor, and say what to do here rather than how to
 * configure Apollo Server.
 */
const reworded: ReadonlyArray<[RegExp, string]> = [
  [/^GraphQL introspection is not allowed\b/, 'Introspection is disabled on this server.'],
  [/^Apollo Server supports only GET\/POST requests/, 'GraphQL is served over GET and POST only.'],
  [
    /^Apollo server received an operation that uses incremental delivery/i,
    'This operation uses @defer or @stream: send "Accept: multipart/mixed; deferSpec=20220824" to receive it.',
  ],
];

function inOurWords(message: string): string {
  for (const [pattern, replacement] of reworded) if (pattern.test(message)) return replacement;
  return message;
}

/**
 * Logs every error that is not the client's fault, with the request id and
 * operation, and puts the request id in the response's `extensions` when
 * there are errors, so a user's report can be matched to the log line.
 */
export function errorsPlugin({
  logger,
  production = false,
}: {
  logger: Logger;
  /** Strip what names the graph's subgraphs from responses. Default: false. */
  production?: boolean;
}): ApolloServerPlugin<ErrorsContext> {
  return {
    async requestDidStart({ contextValue }) {
      const requestId = contextValue.requestId;
      return {
        async didEncounterErrors({ errors, operationName }) {
          // A failed merged fetch is one error, reported once for each of its parts.
          for (const error of new Set(errors)) {
            if (isClientError(error)) continue;
            logger.error(
              { err: error.originalError ?? error, requestId, operationName, path: error.path },
              'request failed',
            );
          }
        },
        async willSendResponse({ request, response }) {
          if (response.body.kind === 'incremental') {
            // A deferred answer's first payload; its later ones pass willSendSubsequentPayload.
            const { initialResult } = response.body;
            if (!initialResult.errors) return;
            initialResult.errors = tidied(initialResult.errors, production);
            if (requestId) initialResult.extensions = { ...initialResult.extensions, requestId };
            return;
          }
          const { singleResult } = response.body;
          if (!singleResult.errors) return;
          const errors = tidied(singleResult.errors, production);
          singleResult.errors = errors;
          // The gateway reports an operation name missing from the document
          // as INVALID_GRAPHQL while executing, which Apollo Server answers
          // with 500; it is the request that is wrong.
          if (
            singleResult.data == null &&
            (response.http.status ?? 500) >= 500 &&
            errors.every((error) => error.extensions?.code === 'INVALID_GRAPHQL')
          )
            response.http.status = 400;
          // GraphQL over HTTP: a client that takes plain application/json
          // (one predating the spec's own media type) gets a GraphQL error in
          // a 200, the way such clients expect to read it.
          if (
            response.http.status === 400 &&
            !request.http?.headers.get('accept')?.includes('application/graphql-response+json') &&
            errors.every((error) => requestErrorCodes.has(String(error.extensions?.code)))
          )
            response.http.status = 200;
          if (requestId) singleResult.extensions = { ...singleResult.extensions, requestId };
        },
        // Each later payload of a deferred answer: its errors are told the same way as the first's.
        async willSendSubsequentPayload(_requestContext, payload) {
          const parts: Array<{ errors?: readonly GraphQLFormattedError[] }> = [
            ...(payload.incremental ?? []),
            ...(('completed' in payload ? payload.completed : undefined) ?? []),
          ];
          for (const part of parts) if (part.errors) part.errors = tidied(part.errors, production);
        },
      };
    },
  };
}

/**
 * A subscription event's errors as Apollo Server would format a response's
 * (`routerErrorFormatter`, then the errors plugin's tidying): events stream
 * past Apollo Server, so the router formats them itself.
 */
export function eventErrorFormatter({ production }: { production: boolean }) {
  const format = routerErrorFormatter({ production });
  return (errors: readonly GraphQLError[]): GraphQLFormattedError[] =>
    tidied(
      errors.map((error) => format(error.toJSON(), error)),
      production,
    );
}

/** Errors as the client gets them: a merged fetch's failure once, and in production without subgraph names. */
function tidied(errors: readonly GraphQLFormattedError[], production: boolean): GraphQLFormattedError[] {
  const once = withoutRepeatedSubgraphFailures(errors);
  return production ? once.map(withoutSubgraphName) : once;
}

/**
 * The parts of a merged fetch fail together, and the gateway reports the
 * failure once for each: the client hears once per subgraph and code.
 */
function withoutRepeatedSubgraphFailures(errors: readonly GraphQLFormattedError[]): GraphQLFormattedError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const code = String(error.extensions?.code);
    if (!subgraphFailureCodes.has(code) || error.path) return true;
    const key = `${code}\u0000${String(error.extensions?.subgraph)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The router's own subgraph failures name the subgraph, to the developer;
 * in production they say the same without it (the log keeps the name).
 */
function withoutSubgraphName(error: GraphQLFormattedError): GraphQLFormattedError {
  const code = error.extensions?.code;
  if (code !== ErrorCode.SubgraphTimeout && code !== ErrorCode.SubgraphUnavailable) return error;
  const { subgraph: _subgraph, serviceName: _serviceName, ...extensions } = error.extensions ?? {};
  return {
    ...error,
    message:
      code === ErrorCode.SubgraphTimeout
        ? 'Part of this response did not arrive in time. Try again shortly.'
        : 'Part of this response is unavailable. Try again shortly.',
    extensions,
  };
}

/** Errors in the GraphQL request itself: its document, or its variables. */
const requestErrorCodes = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', ErrorCode.BadUserInput]);

/** The router's own word that it could not use a subgraph: told to the client, and an outage to log. */
const subgraphFailureCodes: ReadonlySet<string> = new Set([ErrorCode.SubgraphTimeout, ErrorCode.SubgraphUnavailable]);

function isClientError(error: GraphQLError): boolean {
  // Refused by Apollo Server as a bad request, coded or not.
  if (isClientStatus(error) && error.extensions?.code !== ErrorCode.InternalServerError) return true;
  const code = error.extensions?.code;
  if (typeof code !== 'string' || code === ErrorCode.InternalServerError || subgraphFailureCodes.has(code))
    return false;
  // A subgraph's uncoded failure arrives with the gateway's code: not the client's doing.
  return code !== 'DOWNSTREAM_SERVICE_ERROR' && !(error.extensions?.serviceName && !clientErrorCodes.has(code));
}
