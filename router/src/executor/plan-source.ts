import { operationFromDocument, Supergraph } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlan } from '@apollo/query-planner';
import type { DocumentNode } from 'graphql';
import { print } from 'graphql';
import { LRUCache } from 'lru-cache';

/** What a plan is asked for: one operation of a parsed document, under a set of progressive-override labels. */
export interface PlanRequest {
  document: DocumentNode;
  operationName: string | null | undefined;
  /** The `@override(label:)` labels that are on for this request; the others are off. */
  overrideLabels: ReadonlySet<string>;
}

/**
 * Where the executor gets query plans. The router's shared plan cache
 * implements it; `localPlans` is the in-memory default.
 */
export interface PlanSource {
  planFor(request: PlanRequest): QueryPlan | Promise<QueryPlan>;
}

/** Plans Defer nodes for `@defer`, which the executor runs (./defer). */
export const deferEnabled = { incrementalDelivery: { enableDefer: true } } as const;

export interface LocalPlansOptions {
  /** Plans kept, least recently used dropped first. Default: 1,000. */
  max?: number;
}

/**
 * Plans each operation once per override-label set and keeps it in an LRU
 * of this process. Takes the SDL, or the supergraph already built from it
 * so a caller that needs the supergraph too builds it once.
 */
export function localPlans(supergraph: string | Supergraph, { max = 1_000 }: LocalPlansOptions = {}): PlanSource {
  const built = typeof supergraph === 'string' ? Supergraph.build(supergraph) : supergraph;
  const apiSchema = built.apiSchema();
  const planner = new QueryPlanner(built, deferEnabled);
  const plans = new LRUCache<string, QueryPlan>({ max });
  return {
    planFor({ document, operationName, overrideLabels }) {
      const labels = [...overrideLabels].sort();
      // The text as the client sent it when Apollo Server kept it, which is every parsed request; print otherwise.
      const text = document.loc?.source.body ?? print(document);
      const key = `${operationName ?? ''}\u0000${labels.join(',')}\u0000${text}`;
      let plan = plans.get(key);
      if (!plan) {
        const operation = operationFromDocument(apiSchema, document, { operationName: operationName ?? undefined });
        plan = planner.buildQueryPlan(operation, {
          overrideConditions: new Map(labels.map((label) => [label, true])),
        });
        plans.set(key, plan);
      }
      return plan;
    },
  };
}
