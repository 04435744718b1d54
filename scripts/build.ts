/**
 * `npm run build`: the services as JavaScript, for the production image.
 *
 * dist/ is laid out as the repository is: dist/router/src/main.js beside
 * dist/schema/, dist/subgraphs/orders/migrations/ beside
 * dist/subgraphs/orders/src/. Every file a service finds relative to its
 * own module (`new URL('../schema.graphql', import.meta.url)`) is then
 * where it looks, in dist/ as in the sources, and the image copies dist/
 * over its working directory so the same paths hold there.
 *
 * tsc rather than a bundler: one JavaScript file per source file keeps
 * `import.meta.url` paths, stack traces and source maps line for line,
 * needs no configuration for the dependencies that must stay external
 * (native, optional, or loaded by path), and is the compiler that already
 * type-checks the code. `rewriteRelativeImportExtensions` turns the
 * sources' `./x.ts` imports into `./x.js`.
 */
import { execFileSync } from 'node:child_process';
import { cp, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

/** Compiled from tsconfig.build.json's `include`; their other files (schemas, migrations, the IDE's client) are copied. */
const compiledFolders = ['platform/src', 'router/src', 'subgraphs', 'seed', 'scripts/db'];
/** Read at run time from the repository's root: the composed schemas and trusted operations, and the package files. */
const rootFiles = ['schema', 'operations', 'package.json', 'package-lock.json'];

await rm(dist, { recursive: true, force: true });
const started = performance.now();
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
for (const folder of compiledFolders)
  await cp(join(root, folder), join(dist, folder), {
    recursive: true,
    filter: (source) => {
      const path = relative(root, source);
      if (path.split('/').includes('test')) return false;
      return !path.endsWith('.ts');
    },
  });
for (const file of rootFiles) await cp(join(root, file), join(dist, file), { recursive: true });
const files = await readdir(dist, { recursive: true });
console.log(`dist/: ${files.length} files in ${((performance.now() - started) / 1000).toFixed(1)} s`);
