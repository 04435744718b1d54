import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { OperationDefinitionNode, ValidationContext, ValidationRule } from 'graphql';
import {
  costModelFromSupergraph,
  fragmentsOf,
  operationCost,
} from '../../../../platform/src/graphql/demand-control.ts';
import { operationDepth } from './depth.ts';
import { QueryLimitCode, QueryLimitError } from './errors.ts';

import type { RouterPlugin } from '../plugin.ts';

export { formatQueryLimitError, QueryLimitCode, QueryLimitError } from './errors.ts';

/** Costs kept per operation, one per set of variables, oldest dropped first. */
const maxCostsPerOperation = 64;
/** Variables longer than this (as JSON) have their cost computed every time instead of kept. */
const maxCachedVariablesLength = 1024;

/** How big an operation may be. Every limit is checked before any subgraph is called. */
export interface QueryLimits {
  /**
   * Deepest field nesting, leaves included, fragments flattened, a Relay
   * connection's `edges` and `node` not counted (see depth.ts for why).
   * @default 7. The shop's deepest operation, OrderHistory (viewer → orders
   * → items → product → name), is 5; the README's product card is 4.
   */
  maxDepth: number;
  /** Aliased fields per operation, `__typename` aliases included. @default 15 */
  maxAliases: number;
  /** Directives per operation. @default 10 */
  maxDirectives: number;
  /** Lexical tokens per document, counted before it is parsed. @default 1000 */
  maxTokens: number;
  /**
   * Estimated cost, computed with the request's variables from the
   * subgraphs' `@listSize` and `@cost` (see platform/src/graphql/demand-control.ts). @default 5000: the
   * dearest shipped operation, OrderHistory, costs 2,034 (10 orders of up
   * to 50 items), while 100 products with 100 reviews each cost over 30,000.
   */
  maxCost: number;
  /** Trusted documents (in the safelist manifest) skip the cost limit: they were reviewed. @default true */
  costExemptTrusted: boolean;
}

export const defaultQueryLimits: QueryLimits = {
  maxDepth: 7,
  maxAliases: 15,
  maxDirectives: 10,
  maxTokens: 1000,
  maxCost: 5000,
  costExemptTrusted: true,
};

export interface QueryLimitsContext {
  /** Whether the operation came from the trusted-documents manifest. */
  trusted?: boolean;
}

/**
 * Depth, aliases, directives, tokens and cost. Each refusal has its own
 * code (QueryLimitCode) and HTTP 400; `formatQueryLimitError`, in the
 * router's error formatter, says the limit and, in development only, the
 * value found.
 *
 * Depth, aliases and directives are validation rules, so a document is
 * measured once and Apollo Server's document cache remembers that it
 * passed. Cost depends on the variables, so it is computed for every
 * request, once the operation is known.
 */
export function queryLimits(
  limits: QueryLimits,
  { supergraphSdl }: { supergraphSdl: string },
): {
  plugins: ApolloServerPlugin<QueryLimitsContext>[];
  validationRules: ValidationRule[];
  parseOptions: { maxTokens: number };
} {
  // graphql-armor counts aliases and directives (through fragments, each
  // spread once per use); the rules here judge, so the refusal carries our
  // code and both numbers: armor's own refusal is an uncoded "Syntax Error"
  // that gives no count. Hence an unreachable `n` and a check on accept.
  const judge =
    (code: QueryLimitCode, limit: number) =>
    (context: ValidationContext | null, details: unknown): void => {
      const found = countIn(details);
      if (context && found !== undefined && found > limit) context.reportError(new QueryLimitError(code, limit, found));
    };
  const armor = new ApolloArmor({
    maxAliases: {
      n: Number.MAX_SAFE_INTEGER,
      // armor lets `__typename` aliases through by default; each is a field in the response all the same.
      allowList: [],
      onAccept: [judge(QueryLimitCode.Aliases, limits.maxAliases)],
    },
    maxDirectives: {
      n: Number.MAX_SAFE_INTEGER,
      onAccept: [judge(QueryLimitCode.Directives, limits.maxDirectives)],
    },
    // Depth is ours (depth.ts): armor's cannot leave out a connection's wrappers.
    maxDepth: { enabled: false },
    // Tokens are limited by graphql-js's own parser option instead (see parseOptions): armor's
    // plugin throws from a hook Apollo Server 5 answers with a 500.
    maxTokens: { enabled: false },
    // Cost is ours (platform/src/graphql/demand-control.ts), checked below, where the variables and the request's trust are known.
    costLimit: { enabled: false },
    // Suggestions are cut in formatQueryLimitError: armor's mask misses enum values.
    blockFieldSuggestion: { enabled: false },
  });
  const { validationRules } = armor.protect();

  const depthRule: ValidationRule = (context) => ({
    OperationDefinition(operation) {
      const depth = operationDepth(context.getSchema(), operation, fragmentsOf(context.getDocument()));
      if (depth > limits.maxDepth)
        context.reportError(new QueryLimitError(QueryLimitCode.Depth, limits.maxDepth, depth));
    },
  });

  const model = costModelFromSupergraph(supergraphSdl);
  // A cost depends on the operation and its variables alone (the schema and
  // model are this version's), and clients send the same few again and
  // again: each is computed once. Apollo Server hands the same operation
  // node for the same query text; its entry goes when the node does.
  const costs = new WeakMap<OperationDefinitionNode, Map<string, number>>();
  const costLimit: ApolloServerPlugin<QueryLimitsContext> = {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, schema, request, contextValue }) {
          if (!operation || (limits.costExemptTrusted && contextValue.trusted)) return;
          let known = costs.get(operation);
          if (!known) costs.set(operation, (known = new Map()));
          const key = request.variables ? JSON.stringify(request.variables) : '';
          let cost = known.get(key);
          if (cost === undefined) {
            cost = operationCost({
              schema,
              model,
              operation,
              fragments: fragmentsOf(document),
              variables: request.variables,
            });
            // Bounded: a client cycling through variables, or sending large ones, cannot grow it.
            if (key.length <= maxCachedVariablesLength) {
              if (known.size >= maxCostsPerOperation) known.delete(known.keys().next().value!);
              known.set(key, cost);
            }
          }
          // Thrown here, Apollo Server answers with the error as it is: code and status 400.
          if (cost > limits.maxCost) throw new QueryLimitError(QueryLimitCode.Cost, limits.maxCost, cost);
        },
      };
    },
  };
  return {
    plugins: [costLimit],
    validationRules: [depthRule, ...validationRules],
    parseOptions: { maxTokens: limits.maxTokens },
  };
}

/** armor hands its count to `onAccept` as `{ n }`. */
function countIn(details: unknown): number | undefined {
  if (typeof details !== 'object' || details === null || !('n' in details)) return undefined;
  return typeof details.n === 'number' ? details.n : undefined;
}

/** Any limit left out keeps its default (defaultQueryLimits). */
export type QueryLimitsPluginOptions = Partial<QueryLimits>;

/** Operation size limits (`queryLimits`), set up anew for each supergraph version: cost reads its schema. */
export function queryLimitsPlugin(options: QueryLimitsPluginOptions = {}): RouterPlugin {
  const limits: QueryLimits = { ...defaultQueryLimits, ...options };
  return {
    name: 'query limits',
    graph({ sdl }) {
      const { plugins, validationRules, parseOptions } = queryLimits(limits, { supergraphSdl: sdl });
      return { apollo: plugins, validationRules, parseOptions };
    },
  };
}
