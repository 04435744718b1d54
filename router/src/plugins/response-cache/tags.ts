import {
  getNamedType,
  getNullableType,
  isListType,
  isAbstractType,
  isObjectType,
  Kind,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { entityTag } from '../../../../platform/src/events/invalidation.ts';

/**
 * Tags naming what a response shows, so a change can find every cached
 * response it makes stale:
 * - `Type` for any object of an entity type (a type with an `id` field);
 * - `Type:<id>` for each one whose id the response includes;
 * - `Type:?` for one whose id was not selected: it could be any of them, so
 *   purging any `Type:<id>` purges it too (see {@link tagsToPurgeForEntity});
 * - `Query:<field>` for a query's root list or connection (`Query:products`):
 *   which entities it holds depends on all of them, so a change that can
 *   move one into or out of it (a price, for a list filtered and ordered by
 *   price) purges the list as a whole. A list under an entity is purged
 *   through that entity instead (`User:<id>` for the user's orders).
 *
 * Events name what they make stale in the same vocabulary
 * (platform/src/events/invalidation.ts), so one function builds a tag for both.
 */
export function entityTags(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  data: Record<string, unknown>,
): Set<string> {
  const tags = new Set<string>();
  const root = schema.getRootType(operation.operation);
  if (!root) return tags;

  const visit = (type: GraphQLNamedType, selectionSet: SelectionSetNode, value: unknown): void => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      for (const item of value) visit(type, selectionSet, item);
      return;
    }
    if (typeof value !== 'object') return;
    const object = value as Record<string, unknown>;
    const concrete = concreteType(schema, type, object);
    if (!concrete) {
      // An abstract type without `__typename`: any implementation may be here.
      for (const possible of schema.getPossibleTypes(type as never)) visit(possible, selectionSet, value);
      return;
    }
    visitFields(concrete, selectionSet, object);
  };

  const visitFields = (type: GraphQLObjectType, selectionSet: SelectionSetNode, object: Record<string, unknown>) => {
    const fields = type.getFields();
    if (fields.id && type !== root) {
      tags.add(type.name);
      const idKey = responseKeyOf(selectionSet, 'id', fragments, type, schema);
      const id = idKey === undefined ? undefined : object[idKey];
      tags.add(typeof id === 'string' || typeof id === 'number' ? entityTag(type.name, String(id)) : `${type.name}:?`);
    }
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const field = fields[selection.name.value];
        if (!field || !selection.selectionSet) continue;
        if (type === root && operation.operation === 'query' && isCollection(field.type))
          tags.add(entityTag(root.name, field.name));
        visit(getNamedType(field.type), selection.selectionSet, object[selection.alias?.value ?? selection.name.value]);
      } else {
        const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments[selection.name.value];
        if (!fragment || !appliesTo(schema, fragment.typeCondition?.name.value, type)) continue;
        visitFields(type, fragment.selectionSet, object);
      }
    }
  };

  visitFields(root, operation.selectionSet, data);
  return tags;
}

/** The tags whose responses may show the entity `type` with `id`. */
export function tagsToPurgeForEntity(type: string, id: string): string[] {
  return [entityTag(type, id), `${type}:?`];
}

/**
 * For a mutation's result: the tags of every response that may show an
 * entity it returns by id, which the mutation presumably changed.
 */
export function tagsToPurgeForChanged(tags: Iterable<string>): string[] {
  const purge = new Set<string>();
  for (const tag of tags) {
    const separator = tag.indexOf(':');
    if (separator === -1 || tag.endsWith(':?')) continue;
    for (const related of tagsToPurgeForEntity(tag.slice(0, separator), tag.slice(separator + 1))) purge.add(related);
  }
  return [...purge];
}

/** A list, or a Relay connection (an object with `edges`). */
function isCollection(type: GraphQLOutputType): boolean {
  const nullable = getNullableType(type);
  if (isListType(nullable)) return true;
  return isObjectType(nullable) && nullable.getFields().edges !== undefined;
}

function concreteType(schema: GraphQLSchema, type: GraphQLNamedType, object: Record<string, unknown>) {
  if (isObjectType(type)) return type;
  if (!isAbstractType(type)) return undefined;
  const named = typeof object.__typename === 'string' ? schema.getType(object.__typename) : undefined;
  return isObjectType(named) ? named : undefined;
}

function appliesTo(schema: GraphQLSchema, condition: string | undefined, type: GraphQLObjectType): boolean {
  if (condition === undefined || condition === type.name) return true;
  const conditionType = schema.getType(condition);
  return isAbstractType(conditionType) && schema.isSubType(conditionType, type);
}

/** The response key under which `fieldName` appears in this selection, through fragments. */
function responseKeyOf(
  selectionSet: SelectionSetNode,
  fieldName: string,
  fragments: Record<string, FragmentDefinitionNode>,
  type: GraphQLObjectType,
  schema: GraphQLSchema,
): string | undefined {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === fieldName && !selection.directives?.length)
        return selection.alias?.value ?? fieldName;
      continue;
    }
    const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments[selection.name.value];
    if (!fragment || !appliesTo(schema, fragment.typeCondition?.name.value, type)) continue;
    const key = responseKeyOf(fragment.selectionSet, fieldName, fragments, type, schema);
    if (key !== undefined) return key;
  }
  return undefined;
}
