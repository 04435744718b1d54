import { GraphQLError, Lexer, Source, TokenKind, type GraphQLFormattedError } from 'graphql';
import { ErrorCode, statusOf } from '../../../../platform/src/errors.ts';

/** The code of each limit's refusal, in `extensions.code`; every one is answered with HTTP 400 (`errorCodes`). */
export const QueryLimitCode = {
  Depth: ErrorCode.MaxDepthExceeded,
  Aliases: ErrorCode.MaxAliasesExceeded,
  Directives: ErrorCode.MaxDirectivesExceeded,
  Tokens: ErrorCode.MaxTokensExceeded,
  Cost: ErrorCode.CostLimitExceeded,
} as const;
export type QueryLimitCode = (typeof QueryLimitCode)[keyof typeof QueryLimitCode];

const measures: Record<QueryLimitCode, string> = {
  [ErrorCode.MaxDepthExceeded]: 'Query depth',
  [ErrorCode.MaxAliasesExceeded]: 'Alias',
  [ErrorCode.MaxDirectivesExceeded]: 'Directive',
  [ErrorCode.MaxTokensExceeded]: 'Token',
  [ErrorCode.CostLimitExceeded]: 'Cost',
};

/**
 * An operation over one of the limits. It carries the limit and what was
 * found; `formatQueryLimitError` decides what the client hears of them.
 */
export class QueryLimitError extends GraphQLError {
  constructor(
    readonly limitCode: QueryLimitCode,
    readonly limit: number,
    /** What the operation measured; undefined when it is not known (the parser stops counting tokens at the limit). */
    readonly found: number | undefined,
  ) {
    super(`${measures[limitCode]} limit of ${limit} exceeded.`, {
      extensions: { code: limitCode, http: { status: statusOf(limitCode) } },
    });
    this.name = 'QueryLimitError';
  }

  /** In development the limit and the value found; in production the limit only, so probing learns less. */
  toFormatted(production: boolean, locations?: GraphQLFormattedError['locations']): GraphQLFormattedError {
    const reveal = !production && this.found !== undefined;
    return {
      message: `${measures[this.limitCode]} limit of ${this.limit} exceeded${reveal ? `, found ${this.found}` : ''}.`,
      ...(locations ? { locations } : {}),
      extensions: { code: this.limitCode, limit: this.limit, ...(reveal ? { found: this.found } : {}) },
    };
  }
}

/**
 * Shapes, for the client, every error the limits are involved in:
 *
 * - a limit's refusal gets its own code, and the message the environment allows;
 * - graphql-js's token limit, a parse error Apollo Server codes
 *   GRAPHQL_PARSE_FAILED, becomes MAX_TOKENS_EXCEEDED;
 * - in production, graphql-js's "Did you mean …" suggestions (fields,
 *   arguments, types, enum values, in validation and in variable values
 *   alike) are cut, since they would map the schema for anyone who
 *   misspells on purpose.
 *
 * Apollo Server recodes whatever a validation rule reports as
 * GRAPHQL_VALIDATION_FAILED, so the code is restored here, where the
 * thrown error is still at hand.
 */
export function formatQueryLimitError(
  formatted: GraphQLFormattedError,
  error: unknown,
  production: boolean,
): GraphQLFormattedError {
  const refusal = limitErrorIn(error);
  if (refusal) return refusal.toFormatted(production, formatted.locations);
  if (formatted.extensions?.code === ErrorCode.GraphqlParseFailed) {
    const tokens = /more tha[nt] (\d+) tokens/.exec(formatted.message);
    if (tokens) {
      const limit = Number(tokens[1]);
      return new QueryLimitError(QueryLimitCode.Tokens, limit, production ? undefined : countTokens(error)).toFormatted(
        production,
      );
    }
  }
  if (production && formatted.message.includes('Did you mean')) {
    return { ...formatted, message: withoutSuggestions(formatted.message) };
  }
  return formatted;
}

/** The message with graphql-js's suggestion (` Did you mean "x"?`, always its last sentence) removed. */
export function withoutSuggestions(message: string): string {
  return message.replace(/\s*Did you mean [\s\S]*$/, '');
}

function limitErrorIn(error: unknown): QueryLimitError | undefined {
  // Apollo Server wraps what a validation rule reports; the report is the wrapper's originalError.
  for (let current = error, hops = 0; current instanceof Error && hops < 3; hops++) {
    if (current instanceof QueryLimitError) return current;
    current = current instanceof GraphQLError ? current.originalError : undefined;
  }
  return undefined;
}

/**
 * How many tokens the refused document has, for the development message:
 * graphql-js stops at the limit. Counted the way its parser counts
 * (comments are not tokens); undefined when the source is not at hand or
 * does not lex.
 */
function countTokens(error: unknown): number | undefined {
  const source = error instanceof GraphQLError ? error.source : undefined;
  if (!source) return undefined;
  try {
    const lexer = new Lexer(new Source(source.body));
    let count = 0;
    while (lexer.advance().kind !== TokenKind.EOF) count++;
    return count;
  } catch {
    return undefined;
  }
}
