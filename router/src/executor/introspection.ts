import {
  executeSync,
  Kind,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * `__schema` and `__type` are answered by the router from the API schema:
 * no subgraph is asked, and the plan has no fetch for them. graphql-js
 * answers them here, over just those root fields; the shaper then passes
 * their answer through as it is. Introspection is rare (tools, the IDE)
 * and off in production, so this is not on a hot path.
 */

const introspectionFields = new Set(['__schema', '__type']);

/** Per operation node, its introspection part alone; null when it has none. */
const introspectionParts = new WeakMap<OperationDefinitionNode, OperationDefinitionNode | null>();

export interface IntrospectionInput {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
}

/** The answers to the operation's `__schema` and `__type` fields by response key, or null when it asks none. */
export function introspect({
  schema,
  operation,
  fragments,
  variables,
}: IntrospectionInput): { data: Record<string, unknown>; errors: readonly GraphQLError[] } | null {
  let part = introspectionParts.get(operation);
  if (part === undefined) {
    part = introspectionPartOf(operation, fragments);
    introspectionParts.set(operation, part);
  }
  if (part === null) return null;
  const result = executeSync({
    schema,
    document: { kind: Kind.DOCUMENT, definitions: [part, ...Object.values(fragments)] },
    variableValues: variables,
  });
  return { data: (result.data ?? {}) as Record<string, unknown>, errors: result.errors ?? [] };
}

function introspectionPartOf(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
): OperationDefinitionNode | null {
  if (operation.operation !== 'query') return null;
  const selectionSet = keepIntrospection(operation.selectionSet, fragments, new Set());
  return selectionSet ? { ...operation, selectionSet } : null;
}

/** The root selections that lead to an introspection field, fragments at the root inlined; null when none do. */
function keepIntrospection(
  selectionSet: SelectionSetNode,
  fragments: Record<string, FragmentDefinitionNode>,
  visiting: Set<string>,
): SelectionSetNode | null {
  const kept: SelectionSetNode['selections'][number][] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (introspectionFields.has(selection.name.value)) kept.push(selection);
      continue;
    }
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const inner = keepIntrospection(selection.selectionSet, fragments, visiting);
      if (inner) kept.push({ ...selection, selectionSet: inner });
      continue;
    }
    const fragment = fragments[selection.name.value];
    // Validation refuses cycles; this only keeps a malformed document from looping.
    if (!fragment || visiting.has(fragment.name.value)) continue;
    visiting.add(fragment.name.value);
    const inner = keepIntrospection(fragment.selectionSet, fragments, visiting);
    visiting.delete(fragment.name.value);
    if (inner)
      kept.push({
        kind: Kind.INLINE_FRAGMENT,
        typeCondition: fragment.typeCondition,
        directives: selection.directives ?? [],
        selectionSet: inner,
      });
  }
  return kept.length > 0 ? { kind: Kind.SELECTION_SET, selections: kept } : null;
}
