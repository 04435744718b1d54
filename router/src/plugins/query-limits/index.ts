import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { GraphQLError, validate, type ValidationRule } from 'graphql';

/** How big an operation may be. Every limit is checked before any subgraph is called. */
export interface QueryLimits {
  /**
   * Deepest field nesting, leaves included, fragments flattened. Default: 7,
   * what the deepest operation the shop ships needs (OrderHistory:
   * viewer → orders → edges → node → items → product → name).
   */
  maxDepth: number;
  /** Aliased fields per operation. Default: 15. */
  maxAliases: number;
  /** Directives per operation. Default: 10. */
  maxDirectives: number;
  /** Lexical tokens per document, counted before it is parsed. Default: 1,000. */
  maxTokens: number;
  /** graphql-armor's cost (objects 2, scalars 1, ×1.5 a level). Default: 2,000; the shop's operations cost at most 218. */
  maxCost: number;
  /** Trusted documents (in the safelist manifest) skip the cost limit: they were reviewed. Default: true. */
  costExemptTrusted: boolean;
}

export const defaultQueryLimits: QueryLimits = {
  maxDepth: 7,
  maxAliases: 15,
  maxDirectives: 10,
  maxTokens: 1000,
  maxCost: 2000,
  costExemptTrusted: true,
};

export interface QueryLimitsContext {
  /** Whether the operation came from the trusted-documents manifest. */
  trusted?: boolean;
}

/**
 * Depth, aliases, directives, tokens and cost, enforced with graphql-armor,
 * plus field-suggestion masking. In production a rejection says only that
 * the operation is too large, never the limit or the measure, so probing
 * learns nothing; in development it says both.
 */
export function queryLimits(
  limits: QueryLimits,
  { production }: { production: boolean },
): {
  plugins: ApolloServerPlugin<QueryLimitsContext>[];
  validationRules: ValidationRule[];
  parseOptions: { maxTokens: number };
} {
  const exposeLimits = !production;
  const errorMessage = 'The operation is too large or complex.';
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, flattenFragments: true, exposeLimits, errorMessage },
    maxAliases: { n: limits.maxAliases, exposeLimits, errorMessage },
    maxDirectives: { n: limits.maxDirectives, exposeLimits, errorMessage },
    // Tokens are limited by graphql-js's own parser option instead (see parseOptions): armor's
    // plugin throws from a hook Apollo Server 5 answers with a 500.
    maxTokens: { enabled: false },
    // Cost is checked below, where the request's trust is known.
    costLimit: { enabled: false },
    // "Did you mean …" would map the schema for anyone who misspells on purpose.
    blockFieldSuggestion: { enabled: production },
  });
  const { plugins, validationRules } = armor.protect();

  const costRule = costLimitRule({ maxCost: limits.maxCost, exposeLimits, errorMessage });
  const costLimit: ApolloServerPlugin<QueryLimitsContext> = {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, schema, contextValue }) {
          if (limits.costExemptTrusted && contextValue.trusted) return;
          let errors: readonly GraphQLError[];
          try {
            errors = validate(schema, document, [costRule]);
          } catch (error) {
            // graphql-armor throws the rejection out of the visitor.
            if (!(error instanceof GraphQLError)) throw error;
            errors = [error];
          }
          if (errors.length > 0) {
            throw new GraphQLError(errors[0]!.message.replace(/^Syntax Error: /, ''), {
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
            });
          }
        },
      };
    },
  };
  return {
    plugins: [...(plugins as ApolloServerPlugin<QueryLimitsContext>[]), costLimit],
    validationRules,
    parseOptions: { maxTokens: limits.maxTokens },
  };
}

/**
 * graphql-armor words every rejection as a "Syntax Error", and graphql-js
 * names the token limit it hit ("more that N tokens", sic); a client gets
 * neither in production.
 */
export function describeLimitError(message: string, code: unknown, production: boolean): string {
  if (code === 'GRAPHQL_VALIDATION_FAILED') return message.replace(/^Syntax Error: /, '');
  if (code === 'GRAPHQL_PARSE_FAILED' && /more tha[nt] \d+ tokens/.test(message))
    return production ? 'The operation is too large or complex.' : message;
  return message;
}
