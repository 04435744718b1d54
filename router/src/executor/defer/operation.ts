import {
  Kind,
  visit,
  type ArgumentNode,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';

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
  /** Response keys from the root to the object the fragment applies to; one payload per object found there. */
  path: readonly string[];
  /**
   * The operation cut down to the fields on `path` and this fragment's own
   * selection (fragments deferred inside it left out): shaped over the
   * response tree, it holds this fragment's data at `path` and nothing else.
   */
  operation: OperationDefinitionNode;
  /** Response keys this fragment selects on its object, so an error below one of them is its error. */
  keys: ReadonlySet<string>;
  /** The deferred fragment this one sits in, by router label; null: it sits in the first payload. */
  parent: string | null;
}

/** The router's labels on `@defer` directives, by directive, for each document seen (Apollo Server reuses DocumentNodes). */
const labelledDocuments = new WeakMap<DocumentNode, { planned: DocumentNode; labels: Map<DirectiveNode, string> }>();
/** Taken-apart operations, by operation node and which `@defer(if:)` are on. */
const takenApart = new WeakMap<OperationDefinitionNode, Map<string, DeferredOperation | null>>();

/**
 * The operation taken apart for incremental delivery, or null when no
 * `@defer` in it is on (none at all, or every one `if: false`), or when a
 * deferred fragment is reached along two paths (a named fragment holding a
 * `@defer`, spread twice): that operation is answered whole.
 */
export function deferredOperation(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): DeferredOperation | null {
  if (document.loc && !document.loc.source.body.includes('@defer')) return null;
  const { planned, labels } = labelled(document);
  if (labels.size === 0) return null;
  const on = [...labels.keys()].map((directive) => (isOn(directive, variables) ? '1' : '0')).join('');
  let byCondition = takenApart.get(operation);
  if (!byCondition) takenApart.set(operation, (byCondition = new Map()));
  let result = byCondition.get(on);
  if (result === undefined) {
    result = takeApart(operation, fragmentsOf(document), labels, planned, variables);
    byCondition.set(on, result);
  }
  return result;
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
    labelledDocuments.set(document, (known = { planned, labels }));
  }
  return known;
}

function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  return fragments;
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

function clientLabelOf(directive: DirectiveNode): string | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === 'label')?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

/** A selection with named fragments inlined, so that cutting it down never touches a shared definition. */
type Inlined = Exclude<SelectionNode, { kind: Kind.FRAGMENT_SPREAD }>;

function takeApart(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  labels: ReadonlyMap<DirectiveNode, string>,
  planned: DocumentNode,
  variables: Record<string, unknown>,
): DeferredOperation | null {
  const active = (directives: readonly DirectiveNode[] | undefined): string | undefined => {
    const directive = deferOf(directives);
    return directive && isOn(directive, variables) ? labels.get(directive) : undefined;
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
  const root = inline(operation.selectionSet);

  // Every deferred fragment that is on: where it is, what it holds, what holds it.
  const found = new Map<string, DeferredFragment>();
  const contents = new Map<string, SelectionSetNode>();
  let reachedTwice = false;
  const find = (selectionSet: SelectionSetNode, path: string[], parent: string | null) => {
    for (const selection of selectionSet.selections as readonly Inlined[]) {
      if (selection.kind === Kind.FIELD) {
        if (selection.selectionSet) find(selection.selectionSet, [...path, responseKey(selection)], parent);
        continue;
      }
      const label = active(selection.directives);
      if (!label) {
        find(selection.selectionSet, path, parent);
        continue;
      }
      if (found.has(label)) reachedTwice = true;
      const directive = deferOf(selection.directives)!;
      contents.set(label, selection.selectionSet);
      found.set(label, {
        routerLabel: label,
        label: clientLabelOf(directive),
        path,
        operation: operation,
        keys: new Set(),
        parent,
      });
      find(selection.selectionSet, path, label);
    }
  };
  find(root, [], null);
  if (found.size === 0 || reachedTwice) return null;

  /** A selection set without the deferred fragments in it (those that are on). */
  const withoutDeferred = (selectionSet: SelectionSetNode): SelectionSetNode => ({
    ...selectionSet,
    selections: (selectionSet.selections as readonly Inlined[]).flatMap((selection): Inlined[] => {
      if (selection.kind === Kind.FIELD)
        return [
          selection.selectionSet ? { ...selection, selectionSet: withoutDeferred(selection.selectionSet) } : selection,
        ];
      if (active(selection.directives)) return [];
      return [{ ...selection, selectionSet: withoutDeferred(selection.selectionSet) }];
    }),
  });

  /** The selection set cut down to the fields on `path` and the fragment `label` at its end. */
  const cutTo = (selectionSet: SelectionSetNode, label: string, path: readonly string[], depth: number) => {
    const selections: Inlined[] = [];
    for (const selection of selectionSet.selections as readonly Inlined[]) {
      if (selection.kind === Kind.FIELD) {
        if (depth < path.length && selection.selectionSet && responseKey(selection) === path[depth]) {
          const inner = cutTo(selection.selectionSet, label, path, depth + 1);
          if (inner) selections.push({ ...selection, selectionSet: inner });
        }
        continue;
      }
      const own = active(selection.directives);
      if (own === label) {
        const directives = selection.directives?.filter((directive) => directive.name.value !== 'defer');
        selections.push({ ...selection, directives, selectionSet: withoutDeferred(selection.selectionSet) });
        continue;
      }
      const inner = cutTo(selection.selectionSet, label, path, depth);
      if (inner) {
        // A fragment the path passes through: its conditions stay, its own @defer goes (that one is another payload's).
        const directives = own
          ? selection.directives?.filter((directive) => directive.name.value !== 'defer')
          : selection.directives;
        selections.push({ ...selection, directives, selectionSet: inner });
      }
    }
    return selections.length > 0 ? ({ kind: Kind.SELECTION_SET, selections } satisfies SelectionSetNode) : null;
  };

  const ordered = new Map<string, DeferredFragment>();
  for (const fragment of found.values()) {
    const cut = cutTo(root, fragment.routerLabel, fragment.path, 0)!;
    ordered.set(fragment.routerLabel, {
      ...fragment,
      operation: { ...operation, selectionSet: cut },
      keys: keysOf(withoutDeferred(contents.get(fragment.routerLabel)!)),
    });
  }
  return { planned, primary: { ...operation, selectionSet: withoutDeferred(root) }, fragments: ordered };
}

function responseKey(field: { alias?: { value: string } | undefined; name: { value: string } }): string {
  return field.alias?.value ?? field.name.value;
}

function keysOf(selectionSet: SelectionSetNode, into = new Set<string>()): Set<string> {
  for (const selection of selectionSet.selections as readonly Inlined[]) {
    if (selection.kind === Kind.FIELD) into.add(responseKey(selection));
    else keysOf(selection.selectionSet, into);
  }
  return into;
}
