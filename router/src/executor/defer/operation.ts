import {
  GraphQLError,
  isCompositeType,
  Kind,
  visit,
  type ArgumentNode,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { ErrorCode } from '../../../../platform/src/errors.ts';

/**
 * An operation with `@defer`, taken apart for incremental delivery: the
 * document the planner is given, what the first payload holds, and each
 * deferred fragment with what shapes its own payloads.
 */
export interface DeferredOperation {
  /**
   * The client's document with every `@defer` labelled by the router
   * (`label: "d0"`, `"d1"`, …), so each of the plan's deferred nodes names
   * the fragment it is for: the planner leaves a fragment the client did
   * not label unnamed. The client's own labels are kept in `fragments`.
   */
  planned: DocumentNode;
  /** The operation without its deferred fragments, named fragments inlined: the first payload. */
  primary: OperationDefinitionNode;
  /** Each deferred fragment by the router's label, outer ones before the fragments they hold. */
  fragments: ReadonlyMap<string, DeferredFragment>;
}

export interface DeferredFragment {
  /** The router's label (`d0`): the plan's deferred node for this fragment carries it. */
  routerLabel: string;
  /** The client's label, sent back with each of its payloads; undefined when the client gave none. */
  label: string | undefined;
  /** Response keys from the root to the objects the fragment applies to; one part per object found there. */
  path: readonly string[];
  /** The type at `path`, as the operation reaches it. */
  parentType: GraphQLCompositeType;
  /** The fragment's type condition; null: it applies to every object at `path`. */
  typeCondition: GraphQLCompositeType | null;
  /** What the fragment selects, named fragments inlined and the fragments deferred inside it left out. */
  selectionSet: SelectionSetNode;
  /** Response keys the fragment selects on its object, so an error below one of them is its error. */
  keys: ReadonlySet<string>;
  /** The deferred fragment this one sits in, by router label; null: it sits in the first payload. */
  parent: string | null;
}

/** The router's labels on `@defer` directives, by directive, for each document seen (Apollo Server reuses DocumentNodes). */
const labelledDocuments = new WeakMap<DocumentNode, { planned: DocumentNode; labels: Map<DirectiveNode, string> }>();
/** Taken-apart operations, by operation node, then schema and which `@defer`, `@skip` and `@include` are on. */
const takenApart = new WeakMap<
  OperationDefinitionNode,
  Map<string, { schema: GraphQLSchema; result: DeferredOperation | null }>
>();
const undeferredDocuments = new WeakMap<DocumentNode, DocumentNode>();

/**
 * The operation taken apart for incremental delivery, or null when no
 * `@defer` in it is on (none at all, or every one `if: false` or skipped),
 * or when a deferred fragment is reached along two paths (a named
 * fragment holding a `@defer`, spread twice): that operation is answered
 * whole. Throws a client error for `@defer` on a mutation's or
 * subscription's root fields, which the incremental delivery RFC forbids:
 * their effects would run in an order the client did not ask for.
 */
export function deferredOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): DeferredOperation | null {
  if (document.loc && !document.loc.source.body.includes('@defer')) return null;
  const { planned, labels } = labelled(document);
  if (labels.size === 0) return null;
  const signature = [...labels.keys()]
    .map((directive): string => (isOn(directive, variables) ? '1' : '0'))
    .concat(conditionVariablesIn(operation).map((name) => String(variables[name])))
    .join(',');
  let byCondition = takenApart.get(operation);
  if (!byCondition) takenApart.set(operation, (byCondition = new Map()));
  let known = byCondition.get(signature);
  if (!known || known.schema !== schema) {
    known = { schema, result: takeApart(schema, operation, fragmentsOf(document), labels, planned, variables) };
    byCondition.set(signature, known);
  }
  return known.result;
}

/**
 * The document without any `@defer`, for a request answered whole: its
 * plan then has no Defer nodes, so root fields are fetched side by side and
 * the plan is scheduled and corrected like any other.
 */
export function withoutDefer(document: DocumentNode): DocumentNode {
  if (document.loc && !document.loc.source.body.includes('@defer')) return document;
  let undeferred = undeferredDocuments.get(document);
  if (!undeferred) {
    undeferred = withoutSource(
      visit(document, { Directive: (directive) => (directive.name.value === 'defer' ? null : undefined) }),
    );
    undeferredDocuments.set(document, undeferred);
  }
  return undeferred;
}

/**
 * Every document a request for `document` may be planned as: itself, or,
 * when it holds `@defer`, the whole answer's (`withoutDefer`) and the
 * answer in parts' (labelled, see `DeferredOperation.planned`). Plans made
 * ahead of traffic are made for these.
 */
export function plannedDocumentsOf(document: DocumentNode): DocumentNode[] {
  const { labels, planned } = labelled(document);
  return labels.size === 0 ? [document] : [withoutDefer(document), planned];
}

function labelled(document: DocumentNode) {
  let known = labelledDocuments.get(document);
  if (!known) {
    const labels = new Map<DirectiveNode, string>();
    const planned = visit(document, {
      Directive(directive) {
        if (directive.name.value !== 'defer') return undefined;
        const label = `d${labels.size}`;
        labels.set(directive, label);
        const kept = (directive.arguments ?? []).filter((argument) => argument.name.value !== 'label');
        const labelArgument: ArgumentNode = {
          kind: Kind.ARGUMENT,
          name: { kind: Kind.NAME, value: 'label' },
          value: { kind: Kind.STRING, value: label },
        };
        return { ...directive, arguments: [...kept, labelArgument] };
      },
    });
    labelledDocuments.set(document, (known = { planned: withoutSource(planned), labels }));
  }
  return known;
}

/**
 * A rewritten document without the client's source text, which `visit`
 * copies onto it: plans are keyed by a document's source text when it has
 * one (./plans), and this document is no longer that text.
 */
function withoutSource(document: DocumentNode): DocumentNode {
  const { loc: _source, ...rest } = document;
  return rest;
}

function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  return fragments;
}

/** The variables any `@skip`/`@include` of the operation reads: they decide which fragments are there at all. */
function conditionVariablesIn(operation: OperationDefinitionNode): string[] {
  const names: string[] = [];
  visit(operation, {
    Directive(directive) {
      if (directive.name.value !== 'skip' && directive.name.value !== 'include') return;
      const value = directive.arguments?.find((argument) => argument.name.value === 'if')?.value;
      if (value?.kind === Kind.VARIABLE) names.push(value.name.value);
    },
  });
  return names;
}

function deferOf(directives: readonly DirectiveNode[] | undefined): DirectiveNode | undefined {
  return directives?.find((directive) => directive.name.value === 'defer');
}

/** `@defer(if:)` as the request's variables decide it; validation made it a Boolean. */
function isOn(directive: DirectiveNode, variables: Record<string, unknown>): boolean {
  const condition = directive.arguments?.find((argument) => argument.name.value === 'if')?.value;
  if (!condition) return true;
  if (condition.kind === Kind.BOOLEAN) return condition.value;
  if (condition.kind === Kind.VARIABLE) return variables[condition.name.value] !== false;
  return true;
}

/** Whether `@skip`/`@include` leave the selection in, as the variables decide. */
function isIncluded(directives: readonly DirectiveNode[] | undefined, variables: Record<string, unknown>): boolean {
  for (const directive of directives ?? []) {
    const name = directive.name.value;
    if (name !== 'skip' && name !== 'include') continue;
    const condition = directive.arguments?.find((argument) => argument.name.value === 'if')?.value;
    const value =
      condition?.kind === Kind.BOOLEAN
        ? condition.value
        : condition?.kind === Kind.VARIABLE
          ? variables[condition.name.value]
          : undefined;
    if (name === 'skip' && value === true) return false;
    if (name === 'include' && value === false) return false;
  }
  return true;
}

function clientLabelOf(directive: DirectiveNode): string | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === 'label')?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

/** A selection with named fragments inlined, so that cutting it down never touches a shared definition. */
type Inlined = Exclude<SelectionNode, { kind: Kind.FRAGMENT_SPREAD }>;

function takeApart(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  labels: ReadonlyMap<DirectiveNode, string>,
  planned: DocumentNode,
  variables: Record<string, unknown>,
): DeferredOperation | null {
  /** The router's label of a fragment deferred by this request (on, and not skipped). */
  const deferredLabel = (selection: Inlined): string | undefined => {
    const directive = deferOf(selection.directives);
    if (!directive || !isOn(directive, variables) || !isIncluded(selection.directives, variables)) return undefined;
    return labels.get(directive);
  };
  const inline = (selectionSet: SelectionSetNode): SelectionSetNode => ({
    ...selectionSet,
    selections: selectionSet.selections.map((selection): Inlined => {
      if (selection.kind === Kind.FIELD)
        return selection.selectionSet ? { ...selection, selectionSet: inline(selection.selectionSet) } : selection;
      if (selection.kind === Kind.INLINE_FRAGMENT)
        return { ...selection, selectionSet: inline(selection.selectionSet) };
      const definition = fragments[selection.name.value]!;
      const asInline: InlineFragmentNode = {
        kind: Kind.INLINE_FRAGMENT,
        typeCondition: definition.typeCondition,
        directives: selection.directives ?? [],
        selectionSet: inline(definition.selectionSet),
      };
      return asInline;
    }),
  });
  /** A selection set without the fragments this request defers. */
  const withoutDeferred = (selectionSet: SelectionSetNode): SelectionSetNode => ({
    ...selectionSet,
    selections: (selectionSet.selections as readonly Inlined[]).flatMap((selection): Inlined[] => {
      if (selection.kind === Kind.FIELD)
        return [
          selection.selectionSet ? { ...selection, selectionSet: withoutDeferred(selection.selectionSet) } : selection,
        ];
      if (deferredLabel(selection)) return [];
      return [{ ...selection, selectionSet: withoutDeferred(selection.selectionSet) }];
    }),
  });
  const typeNamed = (name: string): GraphQLCompositeType => {
    const type = schema.getType(name);
    if (!isCompositeType(type)) throw new Error(`Cannot defer on "${name}": not a composite type of the schema`);
    return type;
  };

  const root = inline(operation.selectionSet);
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) throw new Error(`The schema has no ${operation.operation} type`);
  const found = new Map<string, DeferredFragment>();
  let reachedTwice = false;
  const find = (
    selectionSet: SelectionSetNode,
    type: GraphQLCompositeType,
    pathType: GraphQLCompositeType,
    path: string[],
    parent: string | null,
  ) => {
    for (const selection of selectionSet.selections as readonly Inlined[]) {
      if (!isIncluded(selection.directives, variables)) continue;
      if (selection.kind === Kind.FIELD) {
        if (!selection.selectionSet || !('getFields' in type)) continue;
        const field = type.getFields()[selection.name.value];
        if (!field) continue;
        let fieldType = field.type;
        while ('ofType' in fieldType) fieldType = fieldType.ofType;
        if (!isCompositeType(fieldType)) continue;
        find(
          selection.selectionSet,
          fieldType,
          fieldType,
          [...path, selection.alias?.value ?? selection.name.value],
          parent,
        );
        continue;
      }
      const condition = selection.typeCondition ? typeNamed(selection.typeCondition.name.value) : null;
      const label = deferredLabel(selection);
      if (label) {
        if (found.has(label)) reachedTwice = true;
        if (path.length === 0 && operation.operation !== 'query')
          throw new GraphQLError(`@defer cannot be used on the root fields of a ${operation.operation}.`, {
            extensions: { code: ErrorCode.GraphqlValidationFailed, http: { status: 400 } },
          });
        const selectionSetOfFragment = withoutDeferred(selection.selectionSet);
        found.set(label, {
          routerLabel: label,
          label: clientLabelOf(deferOf(selection.directives)!),
          path,
          parentType: pathType,
          typeCondition: condition,
          selectionSet: selectionSetOfFragment,
          keys: keysOf(selectionSetOfFragment),
          parent,
        });
      }
      find(selection.selectionSet, condition ?? type, pathType, path, label ?? parent);
    }
  };
  find(root, rootType, rootType, [], null);
  if (found.size === 0 || reachedTwice) return null;
  return { planned, primary: { ...operation, selectionSet: withoutDeferred(root) }, fragments: found };
}

function keysOf(selectionSet: SelectionSetNode, into = new Set<string>()): Set<string> {
  for (const selection of selectionSet.selections as readonly Inlined[]) {
    if (selection.kind === Kind.FIELD) into.add(selection.alias?.value ?? selection.name.value);
    else keysOf(selection.selectionSet, into);
  }
  return into;
}
