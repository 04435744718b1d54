import { readFileSync } from 'node:fs';
import { operationFromDocument, Supergraph } from '@apollo/federation-internals';
import {
  QueryPlanner,
  type FetchNode,
  type PlanNode,
  type QueryPlan,
  type SubscriptionNode,
} from '@apollo/query-planner';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { withSubgraphEnforcedSecurity } from '../src/executor/served-supergraph.ts';
import { ratedProductQuery } from './support/moving-ratings.ts';

/**
 * The composed shop supergraph moves `Product.averageRating` and
 * `reviewCount` from reviews to products behind `percent(0)`: planned with
 * the label on, they are fetched from products; with it off, from reviews,
 * as before. What the router's executor does with the labels a request
 * carries (RouterContext.overrideLabels).
 */

// As the router reads it: the security features it leaves to the subgraphs are not the planner's to refuse.
const supergraph = Supergraph.build(
  withSubgraphEnforcedSecurity(readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8')),
);
const planner = new QueryPlanner(supergraph);
const label = 'percent(0)';

function plan(query: string, labels: readonly string[]): QueryPlan {
  const operation = operationFromDocument(supergraph.schema, parse(query));
  return planner.buildQueryPlan(operation, { overrideConditions: new Map(labels.map((name) => [name, true])) });
}

/** Every fetch of a plan, in document order. */
function fetches(node: PlanNode | SubscriptionNode | undefined): FetchNode[] {
  if (!node) return [];
  switch (node.kind) {
    case 'Fetch':
      return [node];
    case 'Sequence':
    case 'Parallel':
      return node.nodes.flatMap(fetches);
    case 'Flatten':
      return fetches(node.node);
    case 'Condition':
      return [...fetches(node.ifClause), ...fetches(node.elseClause)];
    case 'Defer':
      return [...fetches(node.primary.node), ...node.deferred.flatMap((deferred) => fetches(deferred.node))];
    case 'Subscription':
      return [...fetches(node.primary), ...fetches(node.rest)];
  }
}

/** The subgraphs a plan asks for `field`. */
const fetchingOf = (queryPlan: QueryPlan, field: string) =>
  fetches(queryPlan.node)
    .filter((fetch) => new RegExp(`\\b${field}\\b`).test(fetch.operation))
    .map((fetch) => fetch.serviceName);

const query = ratedProductQuery;

describe('planning Product.averageRating and reviewCount', () => {
  it('fetches them from reviews while the label is off', () => {
    const queryPlan = plan(query, []);
    expect(fetchingOf(queryPlan, 'averageRating')).toEqual(['reviews']);
    expect(fetchingOf(queryPlan, 'reviewCount')).toEqual(['reviews']);
    // The product first from products, then its rating from reviews by key.
    expect(fetches(queryPlan.node).map((fetch) => fetch.serviceName)).toEqual(['products', 'reviews']);
  });

  it('fetches them from products, in the same fetch as the product, once the label is on', () => {
    const queryPlan = plan(query, [label]);
    expect(fetchingOf(queryPlan, 'averageRating')).toEqual(['products']);
    expect(fetchingOf(queryPlan, 'reviewCount')).toEqual(['products']);
    expect(fetches(queryPlan.node).map((fetch) => fetch.serviceName)).toEqual(['products']);
  });

  it('ignores a label the supergraph does not declare', () => {
    expect(fetchingOf(plan(query, ['percent(50)', 'beta']), 'averageRating')).toEqual(['reviews']);
  });
});
