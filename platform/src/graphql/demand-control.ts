import {
  getNamedType,
  isCompositeType,
  isListType,
  isNonNullType,
  Kind,
  parse,
  valueFromASTUntyped,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

/*
 * The cost of an operation, from the Federation demand-control directives
 * (`@cost`, `@listSize`) the subgraphs declare and composition keeps in the
 * supergraph. Written here because no JavaScript library reads them:
 * graphql-armor's cost limit weighs every field alike and sizes a list only
 * by a literal argument (a variable counts as nothing), and
 * graphql-query-complexity knows its own `@complexity` directive, not these;
 * Apollo's own implementation is in its Rust router. The rules follow
 * Apollo's static estimate, so a subgraph author's `@listSize` means here
 * what it means there:
 *
 * - an object (or interface, or union) costs 1, a scalar or enum 0, unless
 *   `@cost(weight:)` on the field or on its type says otherwise;
 * - a list costs its size times its item's cost (the item's own weight plus
 *   everything selected under it);
 * - a list's size is the largest of its `@listSize(slicingArguments:)` as
 *   sent, literal or variable; for one not sent, the operation's default for
 *   the variable, then the argument's default in the schema; then
 *   `@listSize(assumedSize:)`; then `defaultListSize`;
 * - `@listSize(sizedFields:)` hands that size to the named child fields,
 *   which is how a connection's `edges` takes the connection's `first`;
 * - a mutation costs 10 more, for the writes it makes;
 * - fields skipped by `@skip`/`@include` cost nothing, and neither do
 *   `__typename` and introspection.
 */

/** What a list without `@listSize` is assumed to hold; Apollo's default too. */
export const defaultListSize = 10;

/** What a mutation costs before any of its fields: it writes. */
export const mutationCost = 10;

/** A field's demand-control directives, as the supergraph declares them. */
interface FieldCost {
  weight?: number;
  listSize?: {
    slicingArguments: readonly string[];
    assumedSize?: number;
    sizedFields: ReadonlySet<string>;
  };
}

/** The supergraph's `@cost` and `@listSize`, by type (`Product`) and field (`Query.products`). */
export interface CostModel {
  readonly fields: ReadonlyMap<string, FieldCost>;
  readonly types: ReadonlyMap<string, number>;
}

const costSpec = 'https://specs.apollo.dev/cost/';

/**
 * Reads `@cost` and `@listSize` from a supergraph, under the names its
 * `@link` to the cost spec gives them (imported, renamed with `as`, or
 * namespaced as `@cost__listSize`). A supergraph without the link has an
 * empty model: every weight and size takes its default.
 */
export function costModelFromSupergraph(supergraphSdl: string): CostModel {
  const document = parse(supergraphSdl, { noLocation: true });
  const names = costDirectiveNames(document.definitions);
  const fields = new Map<string, FieldCost>();
  const types = new Map<string, number>();
  if (!names) return { fields, types };
  const weightOf = (directives: readonly DirectiveNode[] | undefined): number | undefined => {
    const weight = argumentsOf(directives, names.cost)?.weight;
    return typeof weight === 'number' ? weight : undefined;
  };
  for (const definition of document.definitions) {
    if (!('name' in definition) || !definition.name || !('directives' in definition)) continue;
    const typeName = definition.name.value;
    const typeWeight = weightOf(definition.directives);
    if (typeWeight !== undefined) types.set(typeName, typeWeight);
    if (!('fields' in definition) || !definition.fields) continue;
    for (const field of definition.fields) {
      if (field.kind !== Kind.FIELD_DEFINITION) continue;
      const cost: FieldCost = {};
      const weight = weightOf(field.directives);
      if (weight !== undefined) cost.weight = weight;
      const listSize = argumentsOf(field.directives, names.listSize);
      if (listSize) {
        cost.listSize = {
          slicingArguments: stringsOf(listSize.slicingArguments),
          sizedFields: new Set(stringsOf(listSize.sizedFields)),
          ...(typeof listSize.assumedSize === 'number' ? { assumedSize: listSize.assumedSize } : {}),
        };
      }
      if (cost.weight !== undefined || cost.listSize) fields.set(`${typeName}.${field.name.value}`, cost);
    }
  }
  return { fields, types };
}

/** The local names of `@cost` and `@listSize`, from the supergraph's `@link` to the cost spec; null: not linked. */
function costDirectiveNames(
  definitions: ReturnType<typeof parse>['definitions'],
): { cost: string; listSize: string } | null {
  for (const definition of definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'link') continue;
      const link = argumentsOf([directive], 'link');
      if (typeof link?.url !== 'string' || !link.url.startsWith(costSpec)) continue;
      const namespace = typeof link.as === 'string' ? link.as : 'cost';
      const imported = new Map<string, string>();
      for (const entry of Array.isArray(link.import) ? link.import : []) {
        if (typeof entry === 'string') imported.set(entry, entry);
        else if (entry && typeof entry === 'object' && 'name' in entry && typeof entry.name === 'string')
          imported.set(entry.name, 'as' in entry && typeof entry.as === 'string' ? entry.as : entry.name);
      }
      const local = (name: string, unimported: string) => (imported.get(`@${name}`) ?? `@${unimported}`).slice(1);
      // A directive named like its spec is referred to by the namespace itself (`@cost`), the rest as `@cost__name`.
      return { cost: local('cost', namespace), listSize: local('listSize', `${namespace}__listSize`) };
    }
  }
  return null;
}

function argumentsOf(
  directives: readonly DirectiveNode[] | undefined,
  name: string,
): Record<string, unknown> | undefined {
  const directive = directives?.find((candidate) => candidate.name.value === name);
  if (!directive) return undefined;
  return Object.fromEntries(
    (directive.arguments ?? []).map((argument) => [argument.name.value, valueFromASTUntyped(argument.value)]),
  );
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

export interface CostInput {
  /** The schema clients query (the API schema): where fields and their argument defaults are found. */
  schema: GraphQLSchema;
  model: CostModel;
  operation: OperationDefinitionNode;
  fragments: ReadonlyMap<string, FragmentDefinitionNode>;
  /** The variables sent with the request; a missing one takes the operation's default. */
  variables?: Readonly<Record<string, unknown>> | undefined;
}

/** The operation's estimated cost; see the rules at the top of this file. */
export function operationCost({ schema, model, operation, fragments, variables = {} }: CostInput): number {
  const defaults = new Map(
    (operation.variableDefinitions ?? []).flatMap((definition) =>
      definition.defaultValue ? [[definition.variable.name.value, definition.defaultValue] as const] : [],
    ),
  );
  /** The value an argument has in this request, or undefined when it is not given at all. */
  const valueOf = (node: ValueNode): unknown => {
    if (node.kind !== Kind.VARIABLE) return valueFromASTUntyped(node, variables);
    const name = node.name.value;
    if (Object.hasOwn(variables, name)) return variables[name];
    const fallback = defaults.get(name);
    return fallback ? valueFromASTUntyped(fallback) : undefined;
  };

  const skipped = (directives: readonly DirectiveNode[] | undefined): boolean =>
    (directives ?? []).some((directive) => {
      const condition = directive.arguments?.find((argument) => argument.name.value === 'if');
      const value = condition ? valueOf(condition.value) : undefined;
      return (
        (directive.name.value === 'skip' && value === true) || (directive.name.value === 'include' && value === false)
      );
    });

  const listSizeOf = (
    field: FieldNode,
    definition: GraphQLField<unknown, unknown>,
    listSize: NonNullable<FieldCost['listSize']>,
  ): number | undefined => {
    const sizes: number[] = [];
    for (const name of listSize.slicingArguments) {
      const given = field.arguments?.find((argument) => argument.name.value === name);
      let value = given ? valueOf(given.value) : undefined;
      // Not sent, or sent as null: the subgraph pages by the argument's default.
      if (value === undefined || value === null)
        value = definition.args.find((argument) => argument.name === name)?.defaultValue;
      if (typeof value === 'number' && Number.isFinite(value)) sizes.push(Math.max(0, Math.ceil(value)));
      else if (Array.isArray(value)) sizes.push(value.length);
    }
    return sizes.length > 0 ? Math.max(...sizes) : listSize.assumedSize;
  };

  const visiting = new Set<string>();
  const selectionCost = (
    selectionSet: SelectionSetNode,
    parentType: GraphQLCompositeType,
    sized: { fields: ReadonlySet<string>; size: number | undefined } | undefined,
  ): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (skipped(selection.directives)) continue;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name.startsWith('__') || !('getFields' in parentType)) continue;
        const definition = parentType.getFields()[name];
        if (!definition) continue;
        const declared = model.fields.get(`${parentType.name}.${name}`);
        const expected = declared?.listSize ? listSizeOf(selection, definition, declared.listSize) : undefined;
        const itemType = getNamedType(definition.type);
        const instances = !isList(definition.type)
          ? 1
          : ((sized?.fields.has(name) ? sized.size : undefined) ?? expected ?? defaultListSize);
        const weight = declared?.weight ?? model.types.get(itemType.name) ?? (isCompositeType(itemType) ? 1 : 0);
        const below =
          selection.selectionSet && isCompositeType(itemType)
            ? selectionCost(
                selection.selectionSet,
                itemType,
                declared?.listSize && declared.listSize.sizedFields.size > 0
                  ? { fields: declared.listSize.sizedFields, size: expected }
                  : undefined,
              )
            : 0;
        total += instances * (weight + below);
        continue;
      }
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
      if (!fragment) continue;
      const typeName = fragment.typeCondition?.name.value;
      const type = typeName ? schema.getType(typeName) : parentType;
      if (!type || !isCompositeType(type)) continue;
      // Validation refuses fragment cycles before this runs; the guard keeps a bug from recursing forever.
      const key = selection.kind === Kind.FRAGMENT_SPREAD ? selection.name.value : null;
      if (key && visiting.has(key)) continue;
      if (key) visiting.add(key);
      // Sized fields reach through fragments: `edges` may be selected in one.
      total += selectionCost(fragment.selectionSet, type, sized);
      if (key) visiting.delete(key);
    }
    return total;
  };

  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  const base = operation.operation === 'mutation' ? mutationCost : 0;
  return base + selectionCost(operation.selectionSet, root, undefined);
}

function isList(type: GraphQLOutputType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/** The document's fragments by name, as `operationCost` takes them. */
export function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  return fragments;
}
