import { Kind, print, visit, type DocumentNode, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/** One subgraph query of a query plan, as the gateway sends it. */
export interface SubgraphQuery {
  query: string;
  document: DocumentNode;
  variables: Record<string, unknown>;
}

export interface SubgraphResult {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; path?: ReadonlyArray<string | number>; [key: string]: unknown }>;
  extensions?: Record<string, unknown>;
}

export interface MergedQuery {
  query: string;
  variables: Record<string, unknown>;
  /** The merged result, cut back into one result per part, in order. */
  split(result: SubgraphResult): SubgraphResult[];
}

/**
 * Whether a query can join a merge: one query operation whose root
 * selections are all plain fields, which is what the gateway's fetches are.
 */
export function isMergeable(document: DocumentNode): boolean {
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  return (
    operations.length === 1 &&
    operations[0]!.operation === 'query' &&
    operations[0]!.selectionSet.selections.every((selection) => selection.kind === Kind.FIELD)
  );
}

/** Printing is the costly part of a merge, and a plan sends the same parts together every time. */
const printedMerges = new LRUCache<string, { query: string; rootKeys: string[][] }>({ max: 2_000 });

/**
 * Merges several queries to one subgraph into a single operation: each
 * part's root fields, variables and fragments get the prefix `p<i>_`, so
 * the parts cannot collide, and the subgraph resolves them in one request
 * (and one round of its own DataLoader batching).
 */
export function mergeQueries(parts: readonly SubgraphQuery[]): MergedQuery {
  const cacheKey = parts.map((part) => part.query).join('\u0000');
  let printed = printedMerges.get(cacheKey);
  if (!printed) {
    printed = printMerge(parts);
    printedMerges.set(cacheKey, printed);
  }
  const variables: Record<string, unknown> = {};
  parts.forEach((part, index) => {
    for (const [name, value] of Object.entries(part.variables)) variables[`${prefix(index)}${name}`] = value;
  });
  const { query, rootKeys } = printed;
  return {
    query,
    variables,
    split(result) {
      return parts.map((_, index) => {
        const part: SubgraphResult = {};
        if (result.data) {
          part.data = {};
          for (const key of rootKeys[index]!) part.data[key] = result.data[`${prefix(index)}${key}`];
        } else {
          part.data = result.data ?? null;
        }
        const errors = result.errors?.flatMap((error) => {
          const [head, ...rest] = error.path ?? [];
          if (typeof head !== 'string') return [error]; // not tied to a part: every part sees it
          if (!head.startsWith(prefix(index))) return [];
          return [{ ...error, path: [head.slice(prefix(index).length), ...rest] }];
        });
        if (errors && errors.length > 0) part.errors = errors;
        return part;
      });
    },
  };
}

function prefix(index: number) {
  return `p${index}_`;
}

function printMerge(parts: readonly SubgraphQuery[]) {
  const variableDefinitions: NonNullable<OperationDefinitionNode['variableDefinitions']>[number][] = [];
  const selections: FieldNode[] = [];
  const fragments: DocumentNode['definitions'][number][] = [];
  const rootKeys: string[][] = [];
  parts.forEach((part, index) => {
    const renamed = visit(part.document, {
      Variable: (node) => ({ ...node, name: { ...node.name, value: prefix(index) + node.name.value } }),
      FragmentSpread: (node) => ({ ...node, name: { ...node.name, value: prefix(index) + node.name.value } }),
      FragmentDefinition: (node) => ({ ...node, name: { ...node.name, value: prefix(index) + node.name.value } }),
    });
    const keys: string[] = [];
    for (const definition of renamed.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) {
        fragments.push(definition);
        continue;
      }
      variableDefinitions.push(...(definition.variableDefinitions ?? []));
      for (const selection of definition.selectionSet.selections as readonly FieldNode[]) {
        const key = selection.alias?.value ?? selection.name.value;
        keys.push(key);
        selections.push({ ...selection, alias: { kind: Kind.NAME, value: prefix(index) + key } });
      }
    }
    rootKeys.push(keys);
  });
  const operation: OperationDefinitionNode = {
    kind: Kind.OPERATION_DEFINITION,
    operation: 'query' as OperationDefinitionNode['operation'],
    variableDefinitions,
    directives: [],
    selectionSet: { kind: Kind.SELECTION_SET, selections },
  };
  return { query: print({ kind: Kind.DOCUMENT, definitions: [operation, ...fragments] }), rootKeys };
}
