import {
  getNamedType,
  isCompositeType,
  Kind,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * How deep an operation nests, counting what costs something: each field is
 * a level (leaves included, fragments flattened), except the two wrappers a
 * Relay connection puts around its items, `edges` on a connection and
 * `node` on an edge. They add no resolver and no fetch: `products → edges →
 * node → name` reads as deep as `productsById → name`, and the README's
 * product card (products → reviews → author → username) is 4 deep, not 8.
 * A limit that counted them would have to be 8 for that card, and would
 * then admit 8 real levels of entity hops in a schema without connections.
 *
 * Introspection (`__schema`, `__type`) is not counted: its depth is that of
 * the introspection schema, which tools such as GraphiQL need in full, and
 * production serves no introspection at all.
 */
export function operationDepth(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): number {
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  // A fragment's depth depends only on its own type condition, so each is measured once.
  const fragmentDepths = new Map<string, number>();
  const depthOf = (selectionSet: SelectionSetNode, parentType: GraphQLCompositeType): number => {
    let deepest = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name === '__schema' || name === '__type') continue;
        const definition = 'getFields' in parentType ? parentType.getFields()[name] : undefined;
        const fieldType = definition ? getNamedType(definition.type) : undefined;
        const below =
          selection.selectionSet && fieldType && isCompositeType(fieldType)
            ? depthOf(selection.selectionSet, fieldType)
            : 0;
        deepest = Math.max(deepest, (isConnectionWrapper(parentType, name) ? 0 : 1) + below);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parentType;
        if (type && isCompositeType(type)) deepest = Math.max(deepest, depthOf(selection.selectionSet, type));
      } else {
        const name = selection.name.value;
        let depth = fragmentDepths.get(name);
        if (depth === undefined) {
          // Marked first, so a fragment cycle (which validation refuses anyway) ends here.
          fragmentDepths.set(name, 0);
          const fragment = fragments.get(name);
          const type = fragment ? schema.getType(fragment.typeCondition.name.value) : undefined;
          depth = fragment && type && isCompositeType(type) ? depthOf(fragment.selectionSet, type) : 0;
          fragmentDepths.set(name, depth);
        }
        deepest = Math.max(deepest, depth);
      }
    }
    return deepest;
  };
  return depthOf(operation.selectionSet, root);
}

/**
 * Relay's connection shape: a type named `…Connection` with `edges` and
 * `pageInfo`, whose `edges` are of a type with `node` and `cursor`.
 */
function isConnectionWrapper(parentType: GraphQLCompositeType, fieldName: string): boolean {
  if (!('getFields' in parentType)) return false;
  const fields = parentType.getFields();
  if (fieldName === 'edges') return parentType.name.endsWith('Connection') && 'pageInfo' in fields;
  if (fieldName === 'node') return 'cursor' in fields;
  return false;
}
