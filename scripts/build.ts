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
 * tsc compiles every service file by file: one JavaScript file per source
 * keeps `import.meta.url` paths, stack traces and source maps line for
 * line, and it is the compiler that already type-checks the code
 * (`rewriteRelativeImportExtensions` turns `./x.ts` imports into `./x.js`).
 * The migration Jobs run that output (scripts/db.js).
 *
 * The services' entries, the router's and the subgraphs', are then bundled
 * with esbuild, each into one file with its dependencies, written over
 * tsc's output of it. Node's loader resolves, reads and links about 2,500
 * modules to start the router, which took most of its 1.4 s from start to
 * ready; one file starts in about 0.9 s (`npm run bench:start`,
 * docs/benchmarks.md). Node 24 loads many small modules slower still: the
 * unbundled subgraphs took 0.99–1.15 s there. A bundle reads nothing beside
 * its own modules but what it is given by path or finds from
 * subgraphs/registry.ts, which sits beside subgraphs/serve.js (the
 * subgraphs' schemas and migrations). What stays outside a bundle is loaded
 * from node_modules at run time: packages required by name at run time
 * (node-redis and the OpenTelemetry SDK, when configured), PGlite and
 * drizzle's driver for it (when a service runs on the embedded database),
 * and the development-only ones (esbuild for the IDE, pino-pretty).
 */
import { execFileSync } from 'node:child_process';
import { cp, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

/** Compiled from tsconfig.build.json's `include`; their other files (schemas, migrations, the IDE's client) are copied. */
const compiledFolders = ['platform/src', 'router/src', 'subgraphs', 'seed', 'scripts/db'];
/**
 * The services' entries, each bundled into one file with its dependencies:
 * the router, and the subgraphs' (every subgraph in one file; the one named
 * on the command line is the one evaluated).
 */
const bundledEntries = ['router/src/main.ts', 'subgraphs/serve.ts'];
/** Read at run time from the repository's root: the composed schemas and trusted operations, and the package files. */
const rootFiles = ['schema', 'operations', 'package.json', 'package-lock.json'];

await rm(dist, { recursive: true, force: true });
const started = performance.now();
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
// Each service's entry becomes one file, written over tsc's output of it.
for (const entry of bundledEntries) await bundle(entry);
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

async function bundle(entry: string) {
  await esbuild.build({
    entryPoints: [join(root, entry)],
    outfile: join(dist, entry.replace(/\.ts$/, '.js')),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // CommonJS dependencies call require(): an ES module has none of its own.
    banner: {
      // Aliased: bundled modules import createRequire under its own name too.
      js: "import { createRequire as createBundleRequire } from 'node:module'; const require = createBundleRequire(import.meta.url);",
    },
    // Development-only packages, and PGlite, which finds its WebAssembly and data files beside its own
    // modules. drizzle's driver for PGlite too: bundled, its static import of PGlite would be hoisted to
    // the bundle's top and loaded by every start, where platform/src/db/database.ts loads it only when used.
    external: ['esbuild', 'pino-pretty', '@electric-sql/pglite', 'drizzle-orm/pglite', 'drizzle-orm/pglite/*'],
    // whatwg-url (under node-fetch, under Apollo's packages) requires Node's own punycode, deprecated
    // since Node 21 (DEP0040): the userland package of the same code keeps that warning out of the logs.
    alias: { punycode: 'punycode/' },
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}
