import type { DocumentNode } from 'graphql';
import type { QueryPlan } from '@apollo/query-planner';
export interface PlanSource {
  planFor(request: {
    document: DocumentNode;
    operationName: string | null | undefined;
    overrideLabels: ReadonlySet<string>;
  }): QueryPlan | Promise<QueryPlan>;
}
