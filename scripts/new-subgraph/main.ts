/**
 * `npm run new:subgraph -- <name>`: a new subgraph that works, in the graph,
 * with every generated file fresh, so that `npm run check` and `npm test`
 * pass right after it. Outside its folder it adds one line, to
 * subgraphs/registry.ts; every other file that lists subgraphs is generated.
 *
 * 1. Checks the name (exit 2 when it is unusable) and derives the others
 *    from it (names.ts).
 * 2. Prepares the subgraph's own files (templates.ts) and its registry line
 *    (registry-line.ts) in memory, formatted with prettier.
 * 3. Writes them, then runs the repo's generators: the files that list every
 *    subgraph (`registry-files`), compose, codegen and drizzle-kit's initial
 *    migration. If one fails, every change is undone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kind, parse } from 'graphql';
import * as prettier from 'prettier';
import { Changes } from './changes.ts';
import { InvalidNameError, subgraphNames, type ExistingGraph, type SubgraphNames } from './names.ts';
import { registryFiles, subgraphFiles } from '../registry-files/render.ts';
import {
  addRegistryLine,
  nextFreePort,
  readRegistry,
  registryPath,
  RegistryLineError,
  type RegisteredSubgraph,
} from './registry-line.ts';
import { subgraphTemplates } from './templates.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const usage = 'Usage: npm run new:subgraph -- <name>   (lowercase letters and digits, e.g. wishlists)';

async function main(): Promise<number> {
  let name: string;
  try {
    const { values, positionals } = parseArgs({ allowPositionals: true, options: { help: { type: 'boolean' } } });
    if (values.help) {
      console.log(usage);
      return 0;
    }
    if (positionals.length > 1) throw new InvalidNameError(`Expected one name, got ${positionals.length}.`);
    name = positionals[0] ?? '';
  } catch (error) {
    console.error(`new:subgraph: ${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 2;
  }

  const changes = new Changes(root);
  const registry = changes.read(registryPath);
  const registered = readRegistry(registry);
  let names: SubgraphNames;
  try {
    names = subgraphNames(name, existingGraph(registered));
  } catch (error) {
    if (!(error instanceof InvalidNameError)) throw error;
    console.error(`new:subgraph: ${error.message}`);
    return 2;
  }
  const port = nextFreePort(registered);
  const folder = `subgraphs/${names.name}`;
  console.log(
    `Scaffolding ${folder}: type ${names.type}, Query.${names.one}(id) and Query.${names.many}(first, after), port ${port}.`,
  );

  const files = [
    ...Object.entries(subgraphTemplates(names)).map(([path, content]) => ({ path: `${folder}/${path}`, content })),
    { path: registryPath, content: addRegistryLine(registry, { name: names.name, port }) },
  ];
  const formatted = await Promise.all(files.map(async (file) => ({ ...file, content: await format(file) })));

  // Everything the generators below may write, so that a failure can put it back.
  for (const generated of [
    folder,
    ...registryFiles.map((file) => file.path),
    ...subgraphFiles.map((file) => file.pathOf(names.name)),
    'schema',
    'operations/__generated__',
    ...registered.map((entry) => `subgraphs/${entry.name}/src/__generated__`),
  ]) {
    changes.watch(generated);
  }
  try {
    for (const file of formatted) changes.write(file.path, file.content);
    generate('npm', ['run', '--silent', 'registry-files']);
    generate('npm', ['run', '--silent', 'compose']);
    generate('npm', ['run', '--silent', 'codegen']);
    generate('npm', ['run', '--silent', 'db:generate', '--', names.name, '--name', 'initial']);
  } catch (error) {
    changes.rollback();
    console.error(`\nnew:subgraph: ${error instanceof Error ? error.message : String(error)}`);
    console.error('Every change was undone; the repository is as it was.');
    return 1;
  }

  const { created, modified } = changes.summary();
  console.log(`\nCreated:\n${created.map((path) => `  ${path}`).join('\n')}`);
  console.log('\nUpdated:');
  for (const path of modified) {
    console.log(`  ${path}${path === registryPath ? `: { name: '${names.name}', port: ${port} }` : ' (generated)'}`);
  }
  console.log(nextSteps(names));
  return 0;
}

/** Names the new subgraph must not take: other subgraphs, their types and their root fields. */
function existingGraph(registered: readonly RegisteredSubgraph[]): ExistingGraph {
  const folders = readdirSync(join(root, 'subgraphs'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
  const types = new Map<string, string[]>();
  const queryFields = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, subgraph: string) =>
    map.set(key, [...new Set([...(map.get(key) ?? []), subgraph])]);
  for (const { name } of registered) {
    const schemaFile = join(root, 'subgraphs', name, 'schema.graphql');
    if (!existsSync(schemaFile)) continue;
    for (const definition of parse(readFileSync(schemaFile, 'utf8')).definitions) {
      if (!('name' in definition) || !definition.name) continue;
      add(types, definition.name.value, name);
      const isObject =
        definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION;
      if (isObject && definition.name.value === 'Query') {
        for (const field of definition.fields ?? []) add(queryFields, field.name.value, name);
      }
    }
  }
  return { subgraphs: [...registered.map((entry) => entry.name), ...folders], types, queryFields };
}

/** Formats as `npm run format` would; files prettier ignores or cannot parse are left as they are. */
async function format({ path, content }: { path: string; content: string }): Promise<string> {
  const file = join(root, path);
  const info = await prettier.getFileInfo(file, { ignorePath: join(root, '.prettierignore') });
  if (info.ignored || !info.inferredParser) return content;
  return prettier.format(content, { ...(await prettier.resolveConfig(file)), filepath: file });
}

/** Runs one of the repo's generators, quietly unless it fails. */
function generate(command: string, args: string[]): void {
  const shown = [command, ...args.filter((arg) => arg !== '--silent')].join(' ');
  process.stdout.write(`  ${shown} … `);
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) {
    console.log('failed');
    throw new Error(`\`${shown}\` failed:\n${result.stdout}${result.stderr}`.trimEnd());
  }
  console.log('done');
}

function nextSteps({ name, many }: SubgraphNames): string {
  return `
Next steps:
  1. Make it yours: subgraphs/${name}/schema.graphql, src/db/schema.ts, src/resolvers.ts, src/seed.ts.
     After changing the schema:  npm run compose && npm run codegen
     After changing tables:      npm run db:generate -- ${name} --name <what-changed>
     (Until the first commit you may instead delete subgraphs/${name}/migrations/ and rerun
     npm run db:generate -- ${name} --name initial.)
  2. Describe it in subgraphs/${name}/manifest.ts (its README row and codegen mappers), give each
     entity it owns a seeded instance in test/contract.ts, then npm run registry-files && npm run codegen.
  3. npm run check && npx vitest run subgraphs/${name} test/subgraph-contract.int.test.ts
  4. npm start, then query { ${many}(first: 3) { edges { node { id name } } } } at http://localhost:4000/graphql
  5. Commit the files listed above.`;
}

process.exitCode = await main().catch((error: unknown) => {
  // A registry the edit does not recognise: nothing was written yet.
  if (!(error instanceof RegistryLineError)) throw error;
  console.error(`new:subgraph: ${error.message}\nNothing was changed.`);
  return 1;
});
