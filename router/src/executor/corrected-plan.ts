import type {
  FetchDataRewrite,
  FetchNode,
  PlanNode,
  QueryPlan,
  QueryPlanSelectionNode,
  ResponsePath,
} from '@apollo/query-planner';
import {
  isAbstractType,
  isEnumType,
  isInterfaceType,
  isObjectType,
  Kind,
  parse,
  print,
  stripIgnoredCharacters,
  visit,
  type ConstDirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLInterfaceType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import { documentOf } from './fetch-documents.ts';

/**
 * Corrects a query plan where @apollo/query-planner 2.14 gives two fields
 * one response key in a subgraph operation and keeps only one of them:
 *
 * - a field a later fetch requires, fetched with other arguments than the
 *   `@requires` names, because the client selects the same field under the
 *   same key (`weight` and `@requires(fields: "weight(unit: KILOGRAM)")`):
 *   the representation carries the client's value;
 * - a client field under an alias that is the name of a key or required
 *   field (`{ product { id: name } }`): the plan fetches the key under that
 *   key and drops the client's field, so the client gets the key.
 *
 * Which one survives depends on the order the client selects them in. The
 * correction fetches the required field under an alias of its own next to
 * the field the planner kept, puts the client's field back under its key
 * where the planner dropped it, and has the requiring fetch read the alias
 * and rename it in its representations (an input rewrite, as the planner
 * itself writes them). Only leaf fields are corrected: a conflict over an
 * object-typed key or required field is left as the planner made it.
 *
 * The correction runs once per plan object and is kept beside it, so a
 * plan served from memory costs one WeakMap lookup; a plan without such a
 * conflict is returned as it is.
 */
export function correctedPlan(plan: QueryPlan, context: PlanCorrectionContext): QueryPlan {
  let corrected = correctedPlans.get(plan);
  if (!corrected) {
    corrected = correct(plan, context);
    correctedPlans.set(plan, corrected);
  }
  return corrected;
}

export interface PlanCorrectionContext {
  /** The supergraph's schema: the @requires of each subgraph, and the types subgraph operations name. */
  supergraphSchema: GraphQLSchema;
  /** The client's operation the plan was made for; without it only the required arguments are checked. */
  operation: OperationDefinitionNode | undefined;
  /** The client document's fragments, by name. */
  fragments: Readonly<Record<string, FragmentDefinitionNode>>;
}

/** A plan is made for one operation, so its correction is kept with it. */
const correctedPlans = new WeakMap<QueryPlan, QueryPlan>();

function correct(plan: QueryPlan, context: PlanCorrectionContext): QueryPlan {
  if (!plan.node || plan.node.kind === 'Subscription') return plan;
  const fetches: PlannedFetch[] = [];
  if (!collectFetches(plan.node, [], [], fetches)) return plan;
  if (!fetches.some((fetch) => fetch.node.requires)) return plan;
  const corrector = new Corrector(context, fetches);
  for (const fetch of fetches) if (fetch.node.requires) corrector.check(fetch);
  const patched = corrector.patchedFetches();
  return patched.size === 0 ? plan : { ...plan, node: replaceFetches(plan.node, patched) };
}

/** A fetch of the plan, where its data lands, and what has run by the time it starts. */
interface PlannedFetch {
  node: FetchNode;
  /** The Flatten path above it; [] at the root. */
  path: ResponsePath;
  /** The fetches the plan finishes before this one starts. */
  before: readonly PlannedFetch[];
}

/** The fetches of `node`, each into `out`; null for a plan holding a node this executor does not run. */
function collectFetches(
  node: PlanNode,
  path: ResponsePath,
  before: readonly PlannedFetch[],
  out: PlannedFetch[],
): PlannedFetch[] | null {
  switch (node.kind) {
    case 'Fetch': {
      const planned: PlannedFetch = { node, path, before };
      out.push(planned);
      return [planned];
    }
    case 'Flatten':
      return collectFetches(node.node, [...path, ...node.path], before, out);
    case 'Sequence': {
      const all: PlannedFetch[] = [];
      let done = before;
      for (const child of node.nodes) {
        const inner = collectFetches(child, path, done, out);
        if (!inner) return null;
        all.push(...inner);
        done = [...done, ...inner];
      }
      return all;
    }
    case 'Parallel':
    case 'Condition': {
      const children = node.kind === 'Parallel' ? node.nodes : [node.ifClause, node.elseClause];
      const all: PlannedFetch[] = [];
      for (const child of children) {
        if (!child) continue;
        const inner = collectFetches(child, path, before, out);
        if (!inner) return null;
        all.push(...inner);
      }
      return all;
    }
    case 'Defer': {
      // The deferred parts start once the primary part is in, each side by side.
      const primary = node.primary.node ? collectFetches(node.primary.node, path, before, out) : [];
      if (!primary) return null;
      const all = [...primary];
      const after = [...before, ...primary];
      for (const deferred of node.deferred) {
        if (!deferred.node) continue;
        const inner = collectFetches(deferred.node, path, after, out);
        if (!inner) return null;
        all.push(...inner);
      }
      return all;
    }
  }
}

function replaceFetches(node: PlanNode, patched: ReadonlyMap<FetchNode, FetchNode>): PlanNode {
  switch (node.kind) {
    case 'Fetch':
      return patched.get(node) ?? node;
    case 'Flatten':
      return { ...node, node: replaceFetches(node.node, patched) };
    case 'Sequence':
      return { ...node, nodes: node.nodes.map((child) => replaceFetches(child, patched)) };
    case 'Parallel':
      return { ...node, nodes: node.nodes.map((child) => replaceFetches(child, patched)) };
    case 'Condition':
      return {
        ...node,
        ifClause: node.ifClause && replaceFetches(node.ifClause, patched),
        elseClause: node.elseClause && replaceFetches(node.elseClause, patched),
      };
    case 'Defer':
      return {
        ...node,
        primary: { ...node.primary, node: node.primary.node && replaceFetches(node.primary.node, patched) },
        deferred: node.deferred.map((deferred) => ({
          ...deferred,
          node: deferred.node && replaceFetches(deferred.node, patched),
        })),
      };
  }
}

type CompositeType = GraphQLObjectType | GraphQLInterfaceType;

/** A field of a subgraph operation under the response key looked for, and the selection set holding it. */
interface Occurrence {
  fetch: PlannedFetch;
  selectionSet: SelectionSetNode;
  field: FieldNode;
}

/** What changes in one fetch: what it reads for its representations, and what its operation selects. */
interface FetchPatch {
  requires?: QueryPlanSelectionNode[];
  inputRewrites?: FetchDataRewrite[];
  /** By selection set of the fetch's original document. */
  edits: Map<SelectionSetNode, SelectionSetEdit>;
  /** Client variables the added fields use that the operation did not declare. */
  variables: Map<string, VariableDefinitionNode>;
}

interface SelectionSetEdit {
  /** A field and what takes its place. */
  replace: Map<FieldNode, FieldNode[]>;
  /** Fields added at the end, by their printed text so each is added once. */
  append: Map<string, FieldNode>;
}

class Corrector {
  private readonly patches = new Map<FetchNode, FetchPatch>();
  /** The alias chosen for a required field at a path, so fetches requiring the same one share it. */
  private readonly aliases = new Map<string, string>();
  /** Aliases chosen at each path, so two required fields never get the same one. */
  private readonly aliasesAt = new Map<string, Set<string>>();
  private readonly join: JoinInfo;

  constructor(
    private readonly context: PlanCorrectionContext,
    private readonly fetches: readonly PlannedFetch[],
  ) {
    this.join = joinInfoOf(context.supergraphSchema);
  }

  /** Corrects what `fetch` requires, and the fetches before it that provide it, where the plan has a conflict. */
  check(fetch: PlannedFetch): void {
    const renames: FetchDataRewrite[] = [];
    const requires = fetch.node.requires!.map((selection): QueryPlanSelectionNode => {
      if (selection.kind !== 'InlineFragment' || !selection.typeCondition) return selection;
      const type = this.context.supergraphSchema.getType(selection.typeCondition);
      if (!isObjectType(type) && !isInterfaceType(type)) return selection;
      const required = this.requiredFields(fetch.node, type);
      const selections = selection.selections.map((field): QueryPlanSelectionNode => {
        if (field.kind !== 'Field' || field.selections || field.alias || field.name === '__typename') return field;
        const alias = this.resolveConflict(fetch, type, field.name, required.get(field.name) ?? plainField(field.name));
        if (!alias) return field;
        renames.push({ kind: 'KeyRenamer', path: [`... on ${type.name}`, alias], renameKeyTo: field.name });
        return { ...field, alias };
      });
      return { ...selection, selections };
    });
    if (renames.length === 0) return;
    const patch = this.patchOf(fetch.node);
    patch.requires = requires;
    patch.inputRewrites = [...(fetch.node.inputRewrites ?? []), ...renames];
  }

  /** The fetches to swap into the plan, by the fetch they replace. */
  patchedFetches(): Map<FetchNode, FetchNode> {
    const patched = new Map<FetchNode, FetchNode>();
    for (const [node, patch] of this.patches) {
      const fetch: FetchNode = { ...node };
      if (patch.requires) fetch.requires = patch.requires;
      if (patch.inputRewrites) fetch.inputRewrites = patch.inputRewrites;
      if (patch.edits.size > 0) {
        const document = rewriteDocument(documentOf(node), patch);
        fetch.operation = stripIgnoredCharacters(print(document));
        fetch.operationDocumentNode = document;
        if (patch.variables.size > 0)
          fetch.variableUsages = [...(node.variableUsages ?? []), ...patch.variables.keys()];
      }
      patched.set(node, fetch);
    }
    return patched;
  }

  /**
   * For the field under `key` that `fetch` reads from its entities: the
   * alias the providing fetches now also fetch it under, when the plan has
   * a conflict there; else null.
   */
  private resolveConflict(fetch: PlannedFetch, type: CompositeType, key: string, needed: FieldNode): string | null {
    if (needed.selectionSet || !type.getFields()[key]) return null;
    const providers = fetch.before.flatMap((before) => this.occurrences(before, fetch.path, type, key));
    if (providers.length === 0) return null;
    const isNeeded = (field: FieldNode) => sameField(field, needed, type);
    const client = this.clientFields(fetch.path, type, key).find((field) => !isNeeded(field));
    const misfetched = providers.some(({ field }) => !isNeeded(field));
    if (!client && !misfetched) return null;
    const clientFetched =
      client !== undefined &&
      this.fetches.some((other) =>
        this.occurrences(other, fetch.path, type, key).some(({ field }) => sameField(field, client, type)),
      );
    // A provider that selects something else under the key gets the needed field too, if its subgraph resolves it.
    const able = providers.filter(
      ({ fetch: provider, field }) => isNeeded(field) || this.resolves(provider, type, needed.name.value),
    );
    if (able.length === 0) return null;
    const alias = this.aliasFor(fetch.path, key, needed, able);
    const aliased: FieldNode = { ...needed, alias: { kind: Kind.NAME, value: alias } };
    for (const provider of able) {
      const edit = this.editOf(provider);
      if (client && isNeeded(provider.field)) {
        // The planner kept the required field under the client's key: it moves to the alias, and the client's field comes back.
        const replacement: FieldNode[] = [{ ...provider.field, alias: { kind: Kind.NAME, value: alias } }];
        if (!clientFetched && this.canAdd(client, provider.fetch, type)) replacement.push(client);
        edit.replace.set(provider.field, replacement);
      } else {
        edit.append.set(print(aliased), aliased);
      }
    }
    return alias;
  }

  /** Whether the subgraph of `planned` resolves `fieldName` on `type` itself. */
  private resolves(planned: PlannedFetch, type: CompositeType, fieldName: string): boolean {
    if (fieldName === '__typename') return true;
    const definition = type.getFields()[fieldName];
    const graph = this.join.graphs.get(planned.node.serviceName);
    return !!definition && !!graph && resolvableIn(type, definition, graph);
  }

  /**
   * The top-level fields that the @requires of the fields `fetch` selects
   * on `type` name, with the arguments they name, by field name.
   */
  private requiredFields(fetch: FetchNode, type: CompositeType): Map<string, FieldNode> {
    const required = new Map<string, FieldNode>();
    const graph = this.join.graphs.get(fetch.serviceName);
    if (!graph) return required;
    const document = documentOf(fetch);
    const fragments = fragmentsIn(document);
    const operation = operationOf(document);
    if (!operation) return required;
    const entities = subSelections(fieldsUnder(fragments, [operation.selectionSet], '_entities', anyType));
    for (const { field } of allFields(entities, fragments, (condition) => condition === type.name)) {
      const definition = type.getFields()[field.name.value];
      const requires = definition && requiresOf(definition, graph);
      if (!requires) continue;
      for (const selection of parseSelections(requires)) {
        if (selection.kind === Kind.FIELD && !required.has(selection.name.value))
          required.set(selection.name.value, selection);
      }
    }
    return required;
  }

  /** The fields of `planned`'s operation under `key` on objects of `type` at response path `path`. */
  private occurrences(planned: PlannedFetch, path: ResponsePath, type: CompositeType, key: string): Occurrence[] {
    const base = planned.path;
    if (base.length > path.length || base.some((step, index) => step !== path[index])) return [];
    const document = documentOf(planned.node);
    const operation = operationOf(document);
    if (!operation) return [];
    const fragments = fragmentsIn(document);
    let selectionSets = [operation.selectionSet];
    if (planned.node.requires)
      selectionSets = subSelections(fieldsUnder(fragments, selectionSets, '_entities', anyType));
    for (const step of path.slice(base.length)) {
      if (typeof step === 'string' && step !== '@')
        selectionSets = subSelections(fieldsUnder(fragments, selectionSets, step, anyType));
    }
    return fieldsUnder(fragments, selectionSets, key, this.appliesTo(type)).map(({ selectionSet, field }) => ({
      fetch: planned,
      selectionSet,
      field,
    }));
  }

  /** The client's fields under `key` on objects of `type` at response path `path`. */
  private clientFields(path: ResponsePath, type: CompositeType, key: string): FieldNode[] {
    return fieldsUnder(this.clientFragment, this.clientSelectionSets(path), key, this.appliesTo(type)).map(
      ({ field }) => field,
    );
  }

  /** The response keys the client selects at `path`, on objects of any type. */
  private clientKeys(path: ResponsePath): string[] {
    return allFields(this.clientSelectionSets(path), this.clientFragment, anyType).map(({ field }) =>
      responseKey(field),
    );
  }

  /** The client's selection sets at response path `path`: on the way down, every type's fields lead on. */
  private clientSelectionSets(path: ResponsePath): SelectionSetNode[] {
    const { operation } = this.context;
    if (!operation) return [];
    let selectionSets = [operation.selectionSet];
    for (const step of path) {
      if (typeof step === 'string' && step !== '@')
        selectionSets = subSelections(fieldsUnder(this.clientFragment, selectionSets, step, anyType));
    }
    return selectionSets;
  }

  private readonly clientFragment: FragmentLookup = (name) => this.context.fragments[name];

  /** Whether a fragment on `condition` (or none) applies to objects of `type`. */
  private appliesTo(type: CompositeType): (condition: string | undefined) => boolean {
    const schema = this.context.supergraphSchema;
    return (condition) => {
      if (condition === undefined || condition === type.name) return true;
      const conditionType = schema.getType(condition);
      return isAbstractType(conditionType) && schema.isSubType(conditionType, type);
    };
  }

  /**
   * Whether the client's field can go back into `provider`'s operation: a
   * leaf the provider's subgraph resolves on `type`, with the variables it
   * uses declared by the client's operation.
   */
  private canAdd(client: FieldNode, provider: PlannedFetch, type: CompositeType): boolean {
    if (client.selectionSet || !this.resolves(provider, type, client.name.value)) return false;
    const declared = new Set(
      operationOf(documentOf(provider.node))?.variableDefinitions?.map((definition) => definition.variable.name.value),
    );
    const added = new Map<string, VariableDefinitionNode>();
    for (const name of variablesIn(client)) {
      if (declared.has(name)) continue;
      const definition = this.context.operation?.variableDefinitions?.find(
        (candidate) => candidate.variable.name.value === name,
      );
      if (!definition) return false;
      added.set(name, definition);
    }
    const patch = this.patchOf(provider.node);
    for (const [name, definition] of added) patch.variables.set(name, definition);
    return true;
  }

  /**
   * The alias of `needed` at `path`: the same for every fetch that requires
   * it there, and taken by no field of the providers' selections, of the
   * client's, or of another alias.
   */
  private aliasFor(path: ResponsePath, key: string, needed: FieldNode, providers: readonly Occurrence[]): string {
    const at = path.join('.');
    const memo = `${at}\u0000${print(needed)}`;
    const known = this.aliases.get(memo);
    if (known) return known;
    let chosen = this.aliasesAt.get(at);
    if (!chosen) this.aliasesAt.set(at, (chosen = new Set()));
    const taken = new Set(chosen);
    for (const { fetch, selectionSet } of providers) {
      for (const { field } of allFields([selectionSet], fragmentsIn(documentOf(fetch.node)), anyType))
        taken.add(responseKey(field));
    }
    for (const client of this.clientKeys(path)) taken.add(client);
    let alias = `${key}_required`;
    for (let n = 2; taken.has(alias); n++) alias = `${key}_required_${n}`;
    chosen.add(alias);
    this.aliases.set(memo, alias);
    return alias;
  }

  private patchOf(node: FetchNode): FetchPatch {
    let patch = this.patches.get(node);
    if (!patch) this.patches.set(node, (patch = { edits: new Map(), variables: new Map() }));
    return patch;
  }

  private editOf({ fetch, selectionSet }: Occurrence): SelectionSetEdit {
    const { edits } = this.patchOf(fetch.node);
    let edit = edits.get(selectionSet);
    if (!edit) edits.set(selectionSet, (edit = { replace: new Map(), append: new Map() }));
    return edit;
  }
}

type FragmentLookup = (name: string) => FragmentDefinitionNode | undefined;

const anyType = () => true;

/** Every field of the selection sets, through the fragments `applies` accepts, with the selection set holding it. */
function allFields(
  selectionSets: readonly SelectionSetNode[],
  fragments: FragmentLookup,
  applies: (condition: string | undefined) => boolean,
): Array<{ selectionSet: SelectionSetNode; field: FieldNode }> {
  const found: Array<{ selectionSet: SelectionSetNode; field: FieldNode }> = [];
  const walk = (selectionSet: SelectionSetNode, visited: Set<string>) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) found.push({ selectionSet, field: selection });
      else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (applies(selection.typeCondition?.name.value)) walk(selection.selectionSet, visited);
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const fragment = fragments(selection.name.value);
        if (fragment && applies(fragment.typeCondition.name.value)) walk(fragment.selectionSet, visited);
      }
    }
  };
  for (const selectionSet of selectionSets) walk(selectionSet, new Set());
  return found;
}

/** The fields under response key `key`, as `allFields` finds them. */
function fieldsUnder(
  fragments: FragmentLookup,
  selectionSets: readonly SelectionSetNode[],
  key: string,
  applies: (condition: string | undefined) => boolean,
): Array<{ selectionSet: SelectionSetNode; field: FieldNode }> {
  return allFields(selectionSets, fragments, applies).filter(({ field }) => responseKey(field) === key);
}

function responseKey(field: FieldNode): string {
  return field.alias?.value ?? field.name.value;
}

function subSelections(fields: ReadonlyArray<{ field: FieldNode }>): SelectionSetNode[] {
  return fields.flatMap(({ field }) => (field.selectionSet ? [field.selectionSet] : []));
}

function fragmentsIn(document: DocumentNode): FragmentLookup {
  return (name) =>
    document.definitions.find(
      (definition): definition is FragmentDefinitionNode =>
        definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === name,
    );
}

function operationOf(document: DocumentNode): OperationDefinitionNode | undefined {
  return document.definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
}

function plainField(name: string): FieldNode {
  return { kind: Kind.FIELD, name: { kind: Kind.NAME, value: name } };
}

function parseSelections(fieldSet: string) {
  return operationOf(parse(`{${fieldSet}}`))!.selectionSet.selections;
}

/** The same field with the same arguments, defaults applied; a variable equals only itself. */
function sameField(a: FieldNode, b: FieldNode, type: CompositeType): boolean {
  if (a.name.value !== b.name.value) return false;
  const definition = type.getFields()[a.name.value];
  if (!definition) return true;
  const argumentsOf = (field: FieldNode) =>
    definition.args
      .map((argument) => {
        const given = field.arguments?.find((candidate) => candidate.name.value === argument.name);
        const value = given?.value ?? argument.astNode?.defaultValue;
        return value ? print(value) : '';
      })
      .join(',');
  return argumentsOf(a) === argumentsOf(b);
}

function variablesIn(field: FieldNode): Set<string> {
  const names = new Set<string>();
  visit(field, { Variable: (node) => void names.add(node.name.value) });
  return names;
}

function rewriteDocument(document: DocumentNode, { edits, variables }: FetchPatch): DocumentNode {
  return visit(document, {
    OperationDefinition: (node) =>
      variables.size === 0
        ? undefined
        : { ...node, variableDefinitions: [...(node.variableDefinitions ?? []), ...variables.values()] },
    SelectionSet: (node) => {
      const edit = edits.get(node);
      if (!edit) return undefined;
      const selections = node.selections.flatMap((selection): readonly SelectionNode[] =>
        selection.kind === Kind.FIELD ? (edit.replace.get(selection) ?? [selection]) : [selection],
      );
      return { ...node, selections: [...selections, ...edit.append.values()] };
    },
  });
}

/**
 * The supergraph's join metadata this correction reads: which subgraph
 * resolves a field, and what its @requires names. Composition writes it as
 * `@join__type` / `@join__field` directives on the supergraph's types.
 */
interface JoinInfo {
  /** The `join__Graph` value of each subgraph, by subgraph name. */
  graphs: Map<string, string>;
}

const joinInfos = new WeakMap<GraphQLSchema, JoinInfo>();

function joinInfoOf(schema: GraphQLSchema): JoinInfo {
  let info = joinInfos.get(schema);
  if (!info) {
    const graphs = new Map<string, string>();
    const graphEnum = schema.getType('join__Graph');
    if (isEnumType(graphEnum)) {
      for (const value of graphEnum.getValues()) {
        const name = value.astNode?.directives?.find((directive) => directive.name.value === 'join__graph');
        const subgraph = name && stringArgument(name, 'name');
        if (subgraph) graphs.set(subgraph, value.name);
      }
    }
    joinInfos.set(schema, (info = { graphs }));
  }
  return info;
}

function joinDirectives(
  node: { astNode?: { directives?: readonly ConstDirectiveNode[] } | null | undefined },
  name: string,
  extensions: ReadonlyArray<{ directives?: readonly ConstDirectiveNode[] }> = [],
): ConstDirectiveNode[] {
  return [node.astNode, ...extensions].flatMap((ast) => ast?.directives?.filter((d) => d.name.value === name) ?? []);
}

function graphOf(directive: ConstDirectiveNode): string | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === 'graph')?.value;
  return value?.kind === Kind.ENUM ? value.value : undefined;
}

function stringArgument(directive: ConstDirectiveNode, name: string): string | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

function isTrue(directive: ConstDirectiveNode, name: string): boolean {
  const value = directive.arguments?.find((argument) => argument.name.value === name)?.value;
  return value?.kind === Kind.BOOLEAN && value.value;
}

/** The field set a field's @requires names in `graph`, if it has one there. */
function requiresOf(definition: GraphQLField<unknown, unknown>, graph: string): string | undefined {
  for (const directive of joinDirectives(definition, 'join__field')) {
    if (graphOf(directive) === graph) return stringArgument(directive, 'requires');
  }
  return undefined;
}

/** Whether `graph` resolves the field itself: it has the type and the field, not as @external. */
function resolvableIn(type: CompositeType, definition: GraphQLField<unknown, unknown>, graph: string): boolean {
  const fieldJoins = joinDirectives(definition, 'join__field');
  if (fieldJoins.length === 0)
    return joinDirectives(type, 'join__type', type.extensionASTNodes).some((directive) => graphOf(directive) === graph);
  return fieldJoins.some(
    (directive) =>
      graphOf(directive) === graph && !isTrue(directive, 'external') && !isTrue(directive, 'usedOverridden'),
  );
}
