/**
 * Composes the subgraphs in subgraphs/registry.ts into
 * schema/supergraph.graphql (what the router serves) and schema/api.graphql
 * (what clients see). `--check` writes nothing and fails when either file
 * differs from a fresh composition.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { composeSupergraph } from '../platform/src/composition/compose.ts';
import { schemaFileOf, subgraphs } from '../subgraphs/registry.ts';
import { readSubgraphSources, supergraphFiles } from './supergraph-files.ts';

const { values: flags } = parseArgs({ options: { check: { type: 'boolean', default: false } } });

const outcome = composeSupergraph(
  await readSubgraphSources(subgraphs.map(({ name, port }) => ({ name, port, schemaFile: schemaFileOf(name) }))),
);
if (!outcome.ok) {
  for (const error of outcome.errors) console.error(`${error}\n`);
  const count = outcome.errors.length;
  console.error(`Composition failed with ${count} error${count === 1 ? '' : 's'}; nothing was written.`);
  process.exit(1);
}
for (const hint of outcome.hints) console.warn(`${hint}\n`);

const outputs = supergraphFiles(outcome).map(({ name, content }) => ({
  file: new URL(`../schema/${name}`, import.meta.url),
  content,
}));

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
