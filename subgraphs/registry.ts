import type { AnySubgraphDefinition } from '../platform/src/subgraph/definition.ts';

/**
 * The subgraphs of the shop graph. Composition, codegen, migrations,
 * `npm start` and the tests all read this list; adding a subgraph means
 * adding it here.
 */
export const subgraphs = [
  { name: 'accounts', port: 4001 },
  { name: 'products', port: 4002 },
  { name: 'inventory', port: 4003 },
  { name: 'reviews', port: 4004 },
  { name: 'orders', port: 4005 },
] as const satisfies readonly { name: string; port: number }[];

export type SubgraphName = (typeof subgraphs)[number]['name'];

export function isSubgraphName(name: string): name is SubgraphName {
  return subgraphs.some((entry) => entry.name === name);
}

export function schemaFileOf(name: string): URL {
  return new URL(`./${name}/schema.graphql`, import.meta.url);
}

/** The URL a subgraph listens on in local development; composition records it as the routing URL. */
export function localRoutingUrl(port: number): string {
  return `http://localhost:${port}/graphql`;
}

/** Imports a subgraph's definition, with its resolvers and tables, only when needed. */
export async function loadSubgraph(name: SubgraphName): Promise<AnySubgraphDefinition> {
  const module = (await import(`./${name}/src/index.ts`)) as { subgraph: AnySubgraphDefinition };
  return module.subgraph;
}
