import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { ExpectedResponse } from '../canonical.ts';

/**
 * What every subgraph resolver of the corpus sees as its context: the
 * executor passes the client request's context to each in-process subgraph
 * (LocalGraphQLDataSource), so resolvers can record, per request, the order
 * in which they ran, and a test can read it back from the answer.
 */
export interface CorpusContext {
  /** Appended to by resolvers whose order matters (mutations); starts empty for every operation. */
  log: string[];
}

export interface CorpusSubgraph {
  name: string;
  /** Fed 2 SDL, with its `@link`. */
  typeDefs: string;
  resolvers: GraphQLResolverMap<CorpusContext>;
  /**
   * Every fetch to this subgraph fails as a network error would, before any
   * resolver runs: the whole-subgraph failure an executor must survive.
   * Default: false.
   */
  unreachable?: boolean;
}

export interface CorpusOperation {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  /**
   * The right answer, checked by hand against the subgraphs' resolvers: data
   * in the order the client selected it, errors as canonical.ts compares
   * them. Every executor must give it, except the stock one where a
   * knownStockBugs entry says otherwise.
   */
  expected: ExpectedResponse;
}

/**
 * Where the stock stack is known to answer wrong, or not at all. The
 * operation's `expected` stays the right answer, which every other executor
 * must give; this pins what the stock one gives instead.
 */
export interface KnownStockBug {
  /** The operation's name; '*' for the whole case (the stock gateway refuses the supergraph). */
  operation: string;
  /** What is wrong, and why we are right to differ. */
  why: string;
  /**
   * Where the fault is. An `executor` fault is the own executor's to avoid;
   * a `query planner` fault is in the plan both executors are handed, so an
   * executor that runs the stock plan as it stands inherits it unless it
   * corrects the plan; `gateway` is the stock gateway refusing a supergraph
   * before any plan exists.
   */
  layer: 'executor' | 'query planner' | 'gateway';
  /**
   * What the stock executor does instead, pinned so the test notices when a
   * gateway upgrade changes it: its (wrong) answer, or the message it
   * refuses the supergraph or the operation with.
   */
  stock: { answer: ExpectedResponse } | { refuses: string };
}

/** One self-contained federation scenario: subgraphs, and the operations to run over their supergraph. */
export interface CorpusCase {
  name: string;
  subgraphs: readonly CorpusSubgraph[];
  operations: readonly CorpusOperation[];
  knownStockBugs?: readonly KnownStockBug[];
}

/** The Fed 2 `@link` a corpus subgraph starts with, importing `directives` (e.g. '@key'). */
export function federation(...directives: string[]): string {
  return `extend schema @link(url: "https://specs.apollo.dev/federation/v2.8", import: [${directives.map((directive) => JSON.stringify(directive)).join(', ')}])\n`;
}

/**
 * A stock bug more than one case meets. The stock gateway finds these errors
 * while shaping the response (resultShaping.ts) but, when the subgraphs
 * reported none, puts them under `extensions.valueCompletion` instead of
 * `errors`: its source calls this a compromise for users who relied on the
 * errors being missing. A client sees a value turn to null (or a parent, or
 * all of `data`) with no error at its path.
 */
export const valueCompletionInExtensions =
  'The stock gateway nulls the value but reports why only under `extensions.valueCompletion`, not in `errors`: clients see data vanish without an error at its path.';
