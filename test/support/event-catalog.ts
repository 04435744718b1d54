import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import type { EventDefinition } from '../../platform/src/events/index.ts';
import { loadSubgraph, subgraphs, type SubgraphName } from '../../subgraphs/registry.ts';

const repositoryRoot = new URL('../../', import.meta.url);

export interface CatalogEntry {
  /** The subgraph whose definition lists it. */
  subgraph: SubgraphName;
  definition: EventDefinition;
}

/**
 * The graph's event catalog as the subgraphs declare it: what each
 * publishes (`events.publishes`) and what each consumes (`events.consumes`,
 * the producer's definitions passed to `on`).
 */
export async function eventCatalog(): Promise<{ published: CatalogEntry[]; consumed: CatalogEntry[] }> {
  const published: CatalogEntry[] = [];
  const consumed: CatalogEntry[] = [];
  for (const { name } of subgraphs) {
    const { events } = await loadSubgraph(name);
    for (const definition of events?.publishes ?? []) published.push({ subgraph: name, definition });
    for (const handler of events?.consumes ?? []) consumed.push({ subgraph: name, definition: handler.event });
  }
  return { published, consumed };
}

/**
 * Where the subgraph's own code uses each event definition its
 * `src/events.ts` exports to produce an event (`orderPlaced.record(…)`, a
 * definition handed to `republishState`, or chosen between two), by export
 * name. Declaring, importing, listing it in `publishes` or handling it
 * with `on(…)` produces nothing and is not counted.
 */
export async function productionSites(name: SubgraphName): Promise<Map<EventDefinition, string[]>> {
  const module = (await import(new URL(`subgraphs/${name}/src/events.ts`, repositoryRoot).href)) as Record<
    string,
    unknown
  >;
  const definitions = new Map(
    Object.entries(module).filter((entry): entry is [string, EventDefinition] => isEventDefinition(entry[1])),
  );
  const sites = new Map<EventDefinition, string[]>([...definitions.values()].map((definition) => [definition, []]));
  for (const file of sourceFiles(name)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node) && definitions.has(node.text) && producesWith(node)) {
        const where = `${file.slice(repositoryRoot.pathname.length)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
        sites.get(definitions.get(node.text)!)!.push(where);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return sites;
}

/**
 * Calls in the subgraph's code that record or build an event without its
 * definition (`recordEvents(…)`, `newEvent(…)`): an event produced so would
 * be outside the catalog, unchecked and without tags.
 */
export function eventsRecordedOutsideTheCatalog(name: SubgraphName): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(name)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (
        ts.isCallExpression(node) &&
        ts.isIdentifier(node.expression) &&
        ['recordEvents', 'newEvent'].includes(node.expression.text)
      ) {
        found.push(
          `${file.slice(repositoryRoot.pathname.length)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`,
        );
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

export function isEventDefinition(value: unknown): value is EventDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as EventDefinition).type === 'string' &&
    typeof (value as EventDefinition).record === 'function' &&
    typeof (value as EventDefinition).parse === 'function'
  );
}

/** Whether this mention of a definition produces an event with it. */
function producesWith(identifier: ts.Identifier): boolean {
  const parent = identifier.parent;
  // `orderPlaced.record(…)` / `.create(…)`.
  if (ts.isPropertyAccessExpression(parent) && parent.expression === identifier) {
    return ['record', 'create'].includes(parent.name.text) && ts.isCallExpression(parent.parent);
  }
  // `const announced = confirmed ? orderConfirmed : orderRejected`, then `announced.record(…)`.
  if (ts.isConditionalExpression(parent)) return true;
  // `republishState(db, { event: productPriceChanged, … })`.
  if (ts.isPropertyAssignment(parent) && parent.initializer === identifier) return parent.name.getText() === 'event';
  return false;
}

function sourceFiles(name: SubgraphName): string[] {
  const folder = new URL(`subgraphs/${name}/src/`, repositoryRoot).pathname;
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => !file.includes('__generated__'));
}
