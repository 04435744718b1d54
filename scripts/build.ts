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
 * The subgraphs run that output: each finds its schema and migrations
 * beside its own modules.
 *
 * The router's entry is then bundled with esbuild over tsc's
 * dist/router/src/main.js, into one file with its dependencies. Node's
 * loader resolves, reads and links about 2,500 modules to start the
 * router, which took most of its 1.4 s from start to ready; one file
 * starts in about 0.9 s (`npm run bench:start`, docs/benchmarks.md). The
 * router reads nothing beside its own modules but the supergraph and the
 * trusted operations, which it is given by path. What stays outside the
 * bundle is loaded from node_modules at run time: packages required by
 * name at run time (node-redis and the OpenTelemetry SDK, when
 * configured), and the development-only ones (esbuild for the IDE,
 * pino-pretty, PGlite).
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
/** Read at run time from the repository's root: the composed schemas and trusted operations, and the package files. */
const rootFiles = ['schema', 'operations', 'package.json', 'package-lock.json'];

await rm(dist, { recursive: true, force: true });
const started = performance.now();
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
await esbuild.build({
  entryPoints: [join(root, 'router/src/main.ts')],
  outfile: join(dist, 'router/src/main.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // CommonJS dependencies call require(): an ES module has none of its own.
  banner: {
    // Aliased: bundled modules import createRequire under its own name too.
    js: "import { createRequire as createBundleRequire } from 'node:module'; const require = createBundleRequire(import.meta.url);",
  },
  external: ['esbuild', 'pino-pretty', '@electric-sql/pglite'],
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
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
