import { operationFromDocument, ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { QueryPlanner, type PlanNode, type SubscriptionNode } from '@apollo/query-planner';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { costModelFromSupergraph, operationCost } from '../graphql/demand-control.ts';
import {
  getNamedType,
  isCompositeType,
  Kind,
  parse,
  valueFromASTUntyped,
  type ConstDirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** What one client operation costs the graph, as a frontend team and a reviewer need to see it. */
export interface OperationReport {
  name: string;
  kind: 'query' | 'mutation' | 'subscription';
  /** The file that defines it. */
  source: string;
  /** Subgraphs the query plan fetches from, in name order. */
  subgraphs: string[];
  /** Subgraph fetches in the query plan. */
  fetches: number;
  /** The longest chain of fetches that must wait for each other: the round trips on the critical path. */
  sequentialFetches: number;
  /**
   * The cost the router's limit computes for it when no variables are sent
   * (the operation's own defaults apply), from the supergraph's `@listSize`
   * and `@cost`: platform/src/graphql/demand-control.ts.
   */
  cost: number;
  /** The response's cache policy, as the router computes it from the subgraphs' hints; null: never cached. */
  cache: { maxAge: number; scope: 'PUBLIC' | 'PRIVATE' } | null;
  /** Deprecated fields and arguments it still uses: `Product.sku` or `Query.products(filter)`, with the reason. */
  deprecated: Array<{ path: string; reason: string }>;
}

export interface OperationsReportInput {
  supergraphSdl: string;
  /** Every subgraph's own SDL, with its `@cacheControl` hints (composition drops them). */
  subgraphs: ReadonlyArray<{ name: string; sdl: string }>;
  /** The client documents; fragments are shared across all of them, as codegen does. */
  documents: ReadonlyArray<{ source: string; document: DocumentNode }>;
}

// The report shows the cost the router's cost limit computes, by the same function: what a reviewer
// reads here is what a request with no variables is measured at.
export { defaultListSize } from '../graphql/demand-control.ts';

/**
 * Reports, for each client operation, what the graph does to answer it:
 * the query plan the gateway would run (subgraphs, fetches, round trips),
 * an estimated cost, the cache policy the response would carry and the
 * deprecated fields it relies on. Committed next to the schema, its diff
 * shows a reviewer when a change makes a public query private or doubles
 * its fetches.
 */
export function reportOperations({ supergraphSdl, subgraphs, documents }: OperationsReportInput): OperationReport[] {
  // The report plans, it does not serve: security features need no enforcer here.
  const supergraph = Supergraph.build(supergraphSdl, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES });
  // As the router plans: `@defer` becomes Defer nodes, each deferred fragment its own part.
  const planner = new QueryPlanner(supergraph, { incrementalDelivery: { enableDefer: true } });
  const apiSchema = supergraph.apiSchema().toGraphQLJSSchema();
  const costModel = costModelFromSupergraph(supergraphSdl);
  const subgraphSchemas = new Map(
    subgraphs.map(({ name, sdl }) => [name, buildSubgraphSchema({ typeDefs: parse(sdl) })] as const),
  );
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const { document } of documents)
    for (const definition of document.definitions)
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);

  const reports: OperationReport[] = [];
  for (const { source, document } of documents) {
    for (const operation of document.definitions) {
      if (operation.kind !== Kind.OPERATION_DEFINITION || !operation.name) continue;
      const name = operation.name.value;
      // The planner wants the operation with exactly the fragments it uses.
      const standalone: DocumentNode = {
        kind: Kind.DOCUMENT,
        definitions: [operation, ...fragmentsUsedBy(operation.selectionSet, fragments)],
      };
      const plan = planner.buildQueryPlan(
        operationFromDocument(supergraph.schema, standalone, { operationName: name }),
      );
      const fetches = plan.node ? fetchesOf(plan.node) : [];
      reports.push({
        name,
        kind: operation.operation,
        source,
        subgraphs: [...new Set(fetches.map((fetch) => fetch.serviceName))].sort(),
        fetches: fetches.length,
        sequentialFetches: plan.node ? criticalPath(plan.node) : 0,
        cost: operationCost({ schema: apiSchema, model: costModel, operation, fragments }),
        // Only query responses are ever stored, by the router or by HTTP caches.
        cache:
          operation.operation !== 'query'
            ? null
            : overallPolicy(
                fetches.map((fetch) => {
                  const schema = subgraphSchemas.get(fetch.serviceName);
                  if (!schema)
                    throw new Error(`the supergraph names subgraph "${fetch.serviceName}", which has no SDL here`);
                  return subgraphPolicy(schema, parse(fetch.operation));
                }),
              ),
        deprecated: deprecationsUsed(apiSchema, operation, fragments),
      });
    }
  }
  return reports.sort((a, b) => a.name.localeCompare(b.name));
}

// ---- query plan -------------------------------------------------------------

interface Fetch {
  serviceName: string;
  operation: string;
}

function fetchesOf(node: PlanNode | SubscriptionNode): Fetch[] {
  switch (node.kind) {
    case 'Fetch':
      return [{ serviceName: node.serviceName, operation: node.operation }];
    case 'Sequence':
    case 'Parallel':
      return node.nodes.flatMap(fetchesOf);
    case 'Flatten':
      return fetchesOf(node.node);
    case 'Condition':
      return [node.ifClause, node.elseClause].flatMap((clause) => (clause ? fetchesOf(clause) : []));
    case 'Defer':
      return [
        ...(node.primary.node ? fetchesOf(node.primary.node) : []),
        ...node.deferred.flatMap((deferred) => (deferred.node ? fetchesOf(deferred.node) : [])),
      ];
    case 'Subscription':
      return [
        { serviceName: node.primary.serviceName, operation: node.primary.operation },
        ...(node.rest ? fetchesOf(node.rest) : []),
      ];
  }
}

function criticalPath(node: PlanNode | SubscriptionNode): number {
  switch (node.kind) {
    case 'Fetch':
      return 1;
    case 'Sequence':
      return node.nodes.reduce((total, child) => total + criticalPath(child), 0);
    case 'Parallel':
      return Math.max(0, ...node.nodes.map(criticalPath));
    case 'Flatten':
      return criticalPath(node.node);
    case 'Condition':
      return Math.max(0, ...[node.ifClause, node.elseClause].map((clause) => (clause ? criticalPath(clause) : 0)));
    case 'Defer':
      return (
        (node.primary.node ? criticalPath(node.primary.node) : 0) +
        Math.max(0, ...node.deferred.map((deferred) => (deferred.node ? criticalPath(deferred.node) : 0)))
      );
    case 'Subscription':
      return 1 + (node.rest ? criticalPath(node.rest) : 0);
  }
}

// ---- walking selections -----------------------------------------------------

type Fragments = ReadonlyMap<string, FragmentDefinitionNode>;

/**
 * Calls `visit` for every field selected under `parentType`, through inline
 * fragments and fragment spreads; what `visit` returns is handed to the
 * field's own selections.
 */
function walk<T>(
  schema: GraphQLSchema,
  selectionSet: SelectionSetNode,
  parentType: GraphQLCompositeType,
  fragments: Fragments,
  state: T,
  visit: (
    field: FieldNode,
    definition: GraphQLField<unknown, unknown>,
    parentType: GraphQLCompositeType,
    state: T,
  ) => T,
): void {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value.startsWith('__') || !('getFields' in parentType)) continue;
      const definition = parentType.getFields()[selection.name.value];
      if (!definition) continue;
      const childState = visit(selection, definition, parentType, state);
      const fieldType = getNamedType(definition.type);
      if (selection.selectionSet && isCompositeType(fieldType))
        walk(schema, selection.selectionSet, fieldType, fragments, childState, visit);
      continue;
    }
    const fragment =
      selection.kind === Kind.INLINE_FRAGMENT ? selection : (fragments.get(selection.name.value) ?? undefined);
    if (!fragment) continue;
    const typeName = fragment.typeCondition?.name.value;
    const type = typeName ? schema.getType(typeName) : parentType;
    if (type && isCompositeType(type)) walk(schema, fragment.selectionSet, type, fragments, state, visit);
  }
}

function fragmentsUsedBy(selectionSet: SelectionSetNode, fragments: Fragments): FragmentDefinitionNode[] {
  const used = new Map<string, FragmentDefinitionNode>();
  const collect = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || used.has(fragment.name.value)) continue;
        used.set(fragment.name.value, fragment);
        collect(fragment.selectionSet);
      } else if (selection.selectionSet) {
        collect(selection.selectionSet);
      }
    }
  };
  collect(selectionSet);
  return [...used.values()];
}

function rootType(schema: GraphQLSchema, operation: OperationDefinitionNode): GraphQLCompositeType {
  const type = schema.getRootType(operation.operation);
  if (!type) throw new Error(`the schema has no ${operation.operation} type`);
  return type;
}

// ---- cache policy -----------------------------------------------------------

interface CacheHint {
  maxAge?: number | undefined;
  scope?: 'PUBLIC' | 'PRIVATE' | undefined;
  inheritMaxAge?: boolean | undefined;
}

class CachePolicy {
  maxAge: number | undefined;
  scope: 'PUBLIC' | 'PRIVATE' | undefined;
  replace(hint: CacheHint): void {
    if (hint.maxAge !== undefined) this.maxAge = hint.maxAge;
    if (hint.scope !== undefined) this.scope = hint.scope;
  }
  restrict(hint: { maxAge?: number | undefined; scope?: 'PUBLIC' | 'PRIVATE' | undefined }): void {
    if (hint.maxAge !== undefined && (this.maxAge === undefined || hint.maxAge < this.maxAge))
      this.maxAge = hint.maxAge;
    if (hint.scope !== undefined && this.scope !== 'PRIVATE') this.scope = hint.scope;
  }
}

/**
 * The policy a subgraph's answer to one fetch carries, found statically the
 * way Apollo Server's cache-control plugin finds it at run time: a field
 * takes its return type's hint, then its own; root fields and object fields
 * without a hint (and not `inheritMaxAge`) are uncacheable; `_entities`
 * takes the hints of the entity types it returns, as @apollo/subgraph does.
 * Assumes every selected field is resolved, so it is the worst case.
 */
export function subgraphPolicy(schema: GraphQLSchema, document: DocumentNode): CachePolicy {
  const overall = new CachePolicy();
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  for (const operation of document.definitions) {
    if (operation.kind !== Kind.OPERATION_DEFINITION) continue;
    walk(
      schema,
      operation.selectionSet,
      rootType(schema, operation),
      fragments,
      true,
      (field, definition, _, isRoot) => {
        const policy = new CachePolicy();
        let inheritMaxAge = false;
        const targetType = getNamedType(definition.type);
        if (isCompositeType(targetType)) {
          const typeHint = cacheHintOf(targetType.astNode?.directives, targetType);
          policy.replace(typeHint);
          inheritMaxAge = Boolean(typeHint.inheritMaxAge);
        }
        const fieldHint = cacheHintOf(definition.astNode?.directives);
        if (fieldHint.inheritMaxAge && policy.maxAge === undefined) {
          inheritMaxAge = true;
          if (fieldHint.scope) policy.replace({ scope: fieldHint.scope });
        } else {
          policy.replace(fieldHint);
        }
        if (isRoot && field.name.value === '_entities') {
          for (const typeName of entityTypesSelected(field, fragments)) {
            const type = schema.getType(typeName);
            if (type) policy.restrict(cacheHintOf(type.astNode?.directives, type));
          }
        }
        if (policy.maxAge === undefined && ((isCompositeType(targetType) && !inheritMaxAge) || isRoot))
          policy.restrict({ maxAge: 0 });
        overall.restrict(policy);
        return false;
      },
    );
  }
  return overall;
}

function entityTypesSelected(field: FieldNode, fragments: Fragments): string[] {
  const names = new Set<string>();
  const collect = (set: SelectionSetNode | undefined) => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.INLINE_FRAGMENT && selection.typeCondition)
        names.add(selection.typeCondition.name.value);
      else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (fragment) names.add(fragment.typeCondition.name.value);
      }
    }
  };
  collect(field.selectionSet);
  return [...names];
}

function cacheHintOf(directives: readonly ConstDirectiveNode[] | undefined, type?: GraphQLNamedType): CacheHint {
  const all = [
    ...(directives ?? []),
    ...(type && 'extensionASTNodes' in type ? type.extensionASTNodes.flatMap((node) => node.directives ?? []) : []),
  ];
  const directive = all.find((candidate) => candidate.name.value === 'cacheControl');
  const hint: CacheHint = {};
  for (const argument of directive?.arguments ?? []) {
    const value = valueFromASTUntyped(argument.value);
    if (argument.name.value === 'maxAge' && typeof value === 'number') hint.maxAge = value;
    if (argument.name.value === 'scope' && (value === 'PUBLIC' || value === 'PRIVATE')) hint.scope = value;
    if (argument.name.value === 'inheritMaxAge' && value === true) hint.inheritMaxAge = true;
  }
  return hint;
}

/** The router narrows one response's policy by every subgraph answer; a 0 or missing max-age is never cached. */
function overallPolicy(policies: readonly CachePolicy[]): OperationReport['cache'] {
  if (policies.length === 0) return null;
  const overall = new CachePolicy();
  for (const policy of policies) {
    if (policy.maxAge === undefined || policy.maxAge === 0) return null;
    overall.restrict(policy);
  }
  return { maxAge: overall.maxAge!, scope: overall.scope ?? 'PUBLIC' };
}

// ---- deprecations -----------------------------------------------------------

function deprecationsUsed(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Fragments,
): OperationReport['deprecated'] {
  const found = new Map<string, string>();
  walk(schema, operation.selectionSet, rootType(schema, operation), fragments, null, (field, definition, parent) => {
    const path = `${parent.name}.${definition.name}`;
    if (definition.deprecationReason) found.set(path, definition.deprecationReason);
    for (const argument of field.arguments ?? []) {
      const reason = definition.args.find((candidate) => candidate.name === argument.name.value)?.deprecationReason;
      if (reason) found.set(`${path}(${argument.name.value})`, reason);
    }
    return null;
  });
  return [...found].map(([path, reason]) => ({ path, reason }));
}
