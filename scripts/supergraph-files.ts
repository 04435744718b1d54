/**
 * What `npm run compose` reads and what it writes, for every script that
 * composes the local graph: in, each subgraph's schema file with its local
 * routing URL; out, schema/supergraph.graphql and schema/api.graphql.
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SubgraphSource } from '../platform/src/composition/compose.ts';
import { localRoutingUrl } from '../subgraphs/registry.ts';

export interface LocalSubgraph {
  name: string;
  /** Its port in the registry, from which its routing URL is recorded. */
  port: number;
  schemaFile: string | URL;
}

/** Reads each subgraph's SDL; messages name a schema file by its path from the working directory. */
export async function readSubgraphSources(entries: readonly LocalSubgraph[]): Promise<SubgraphSource[]> {
  return Promise.all(
    entries.map(async ({ name, port, schemaFile }) => ({
      name,
      url: localRoutingUrl(port),
      sdl: await readFile(schemaFile, 'utf8'),
      path: relative(process.cwd(), schemaFile instanceof URL ? fileURLToPath(schemaFile) : schemaFile),
    })),
  );
}

export interface SupergraphFile {
  /** The file's name in schema/. */
  name: 'supergraph.graphql' | 'api.graphql';
  content: string;
}

/** The files of a successful composition, exactly as `npm run compose` writes them; the supergraph first. */
export function supergraphFiles(composed: { supergraphSdl: string; apiSchemaSdl: string }): SupergraphFile[] {
  return [
    { name: 'supergraph.graphql', content: composed.supergraphSdl },
    { name: 'api.graphql', content: composed.apiSchemaSdl + '\n' },
  ];
}
