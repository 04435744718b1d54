import type { AnySubgraphDefinition } from '../platform/src/subgraph/definition.ts';

/**
 * The subgraphs of the shop graph, and the only list of them. Composition,
 * codegen, migrations, `npm start`, the tests and the deployment files
 * (`npm run registry-files`) all read it; adding a subgraph means its folder
 * and one line here.
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

/**
 * A subgraph's folder, where its schema and migrations are. Resolved here
 * rather than in each subgraph's own module: the production build bundles
 * every subgraph into subgraphs/serve.js beside this file (scripts/build.ts),
 * where a subgraph module's own `import.meta.url` would point elsewhere.
 */
export function subgraphFolderOf(name: string): URL {
  return new URL(`./${name}/`, import.meta.url);
}

export function schemaFileOf(name: string): URL {
  return new URL('schema.graphql', subgraphFolderOf(name));
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

/**
 * What a subgraph tells the shared files outside its folder about itself, in
 * `subgraphs/<name>/manifest.ts`. Plain data that imports nothing, so codegen
 * and the generators load it without starting any of the subgraph's code.
 */
export interface SubgraphManifest {
  /**
   * Parent types of its resolvers for codegen: the row (or loader value) a
   * resolver returns for a GraphQL type, as `path#Type` relative to
   * `src/__generated__/`. Types left out are their generated GraphQL shape.
   */
  codegenMappers: Record<string, string>;
  /** Its row in the README's subgraph table, in Markdown. */
  readme: {
    /** The types and root fields it owns. */
    owns: string;
    /** Fields it adds to types another subgraph owns; empty when none. */
    addsToOtherTypes: string;
  };
}

export async function loadManifest(name: string): Promise<SubgraphManifest> {
  const module = (await import(`./${name}/manifest.ts`)) as { manifest: SubgraphManifest };
  return module.manifest;
}
