/**
 * Composes the subgraphs in subgraphs/registry.ts into
 * schema/supergraph.graphql (what the router serves) and schema/api.graphql
 * (what clients see). `--check` writes nothing and fails when either file
 * differs from a fresh composition.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { composeSupergraph } from '../platform/src/composition/compose.ts';
import { localRoutingUrl, schemaFileOf, subgraphs } from '../subgraphs/registry.ts';

const { values: flags } = parseArgs({ options: { check: { type: 'boolean', default: false } } });

const outcome = composeSupergraph(
  subgraphs.map(({ name, port }) => ({
    name,
    url: localRoutingUrl(port),
    sdl: readFileSync(schemaFileOf(name), 'utf8'),
    path: relative(process.cwd(), fileURLToPath(schemaFileOf(name))),
  })),
);
if (!outcome.ok) {
  for (const error of outcome.errors) console.error(`${error}\n`);
  const count = outcome.errors.length;
  console.error(`Composition failed with ${count} error${count === 1 ? '' : 's'}; nothing was written.`);
  process.exit(1);
}
for (const hint of outcome.hints) console.warn(`${hint}\n`);

const outputs = [
  { file: new URL('../schema/supergraph.graphql', import.meta.url), content: outcome.supergraphSdl },
  { file: new URL('../schema/api.graphql', import.meta.url), content: outcome.apiSchemaSdl + '\n' },
];

let stale = 0;
for (const { file, content } of outputs) {
  const path = file.pathname.replace(/^.*\/(schema\/)/, '$1');
  if (flags.check) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      // A missing file is as stale as a wrong one.
    }
    if (current !== content) {
      stale++;
      console.error(`${path} is stale. Run \`npm run compose\` and commit the result.`);
    } else {
      console.log(`${path} is up to date`);
    }
  } else {
    writeFileSync(file, content);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale === 0 ? 0 : 1);
