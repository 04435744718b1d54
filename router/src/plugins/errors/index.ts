import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import { clientErrorCodes, createErrorFormatter, ErrorCode } from '../../../../platform/src/errors.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import { formatQueryLimitError } from '../query-limits/index.ts';

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
    const formatted = formatQueryLimitError(raw, error, production);
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
    return format(formatted, error);
  };
}

/**
 * Logs every error that is not the client's fault, with the request id and
 * operation, and puts the request id in the response's `extensions` when
 * there are errors, so a user's report can be matched to the log line.
 */
export function errorsPlugin({ logger }: { logger: Logger }): ApolloServerPlugin<ErrorsContext> {
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
          if (response.body.kind !== 'single') return;
          const { singleResult } = response.body;
          if (!singleResult.errors) return;
          const errors = withoutRepeatedSubgraphFailures(singleResult.errors);
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
      };
    },
  };
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

/** Errors in the GraphQL request itself: its document, or its variables. */
const requestErrorCodes = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', ErrorCode.BadUserInput]);

/** The router's own word that it could not use a subgraph: told to the client, and an outage to log. */
const subgraphFailureCodes: ReadonlySet<string> = new Set([ErrorCode.SubgraphTimeout, ErrorCode.SubgraphUnavailable]);

function isClientError(error: GraphQLError): boolean {
  const code = error.extensions?.code;
  if (typeof code !== 'string' || code === ErrorCode.InternalServerError || subgraphFailureCodes.has(code))
    return false;
  // A subgraph's uncoded failure arrives with the gateway's code: not the client's doing.
  return code !== 'DOWNSTREAM_SERVICE_ERROR' && !(error.extensions?.serviceName && !clientErrorCodes.has(code));
}
