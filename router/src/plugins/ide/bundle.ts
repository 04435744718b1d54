import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/** The IDE's code and styles, ready to inline in its page. */
export interface IdeBundle {
  script: string;
  style: string;
}

const entry = fileURLToPath(new URL('./client/main.js', import.meta.url));
const repository = fileURLToPath(new URL('../../../../', import.meta.url));
/** Where a built bundle is kept between starts, as other build tools keep theirs. */
const cacheFolder = join(repository, 'node_modules', '.cache', 'shop-graph-ide');

/** Monaco's workers, by the name the client imports them under (`ide-worker:<name>`). */
const workerEntries: Record<string, string> = {
  editor: 'monaco-editor/esm/vs/editor/editor.worker.js',
  json: 'monaco-editor/esm/vs/language/json/json.worker.js',
  graphql: 'monaco-graphql/esm/graphql.worker.js',
};

let building: Promise<IdeBundle> | null = null;

/**
 * Bundles GraphiQL, React and Monaco from node_modules with esbuild, once
 * per process: every graph version (a reload builds one) shares the result,
 * and a router that never serves the page never pays for it (seconds of
 * CPU). The result is also kept in node_modules/.cache, keyed by the
 * lockfile and this folder's code, so the next start serves it at once.
 * esbuild is imported here, not at the top of the module, because it is a
 * devDependency: a production install has no IDE and no esbuild. A failed
 * build is forgotten, so the next page load tries again.
 */
export function ideBundle(): Promise<IdeBundle> {
  building ??= cachedOrBuilt().catch((error: unknown) => {
    building = null;
    throw error;
  });
  return building;
}

async function cachedOrBuilt(): Promise<IdeBundle> {
  const key = createHash('sha256');
  for (const file of [join(repository, 'package-lock.json'), entry, fileURLToPath(import.meta.url)]) {
    key.update(await readFile(file));
  }
  const cached = join(cacheFolder, `${key.digest('hex').slice(0, 24)}.json`);
  try {
    const stored = JSON.parse(await readFile(cached, 'utf8')) as Partial<IdeBundle>;
    if (typeof stored.script === 'string' && typeof stored.style === 'string')
      return { script: stored.script, style: stored.style };
  } catch {
    // Not built yet, or unreadable: build it.
  }
  const bundle = await build();
  // Best effort: a read-only node_modules only means building again next start.
  try {
    await mkdir(cacheFolder, { recursive: true });
    const partial = `${cached}.${process.pid}.tmp`;
    await writeFile(partial, JSON.stringify(bundle));
    await rename(partial, cached);
    // Bundles of earlier lockfiles are dead weight (6 MB each).
    for (const name of await readdir(cacheFolder)) {
      if (join(cacheFolder, name) !== cached) await rm(join(cacheFolder, name), { force: true });
    }
  } catch {
    // Nothing to do: the bundle is still served from memory.
  }
  return bundle;
}

async function build(): Promise<IdeBundle> {
  const esbuild = await import('esbuild');
  const common = {
    bundle: true,
    write: false,
    minify: true,
    platform: 'browser',
    target: 'es2022',
    // React and friends pick their production builds by this.
    define: { 'process.env.NODE_ENV': '"production"' },
    // Monaco's and GraphiQL's fonts are inlined, so the page loads nothing from anywhere.
    loader: { '.ttf': 'dataurl', '.woff': 'dataurl', '.woff2': 'dataurl' },
    logLevel: 'silent',
  } as const;

  // Each worker becomes a classic-script string the page starts from a blob URL.
  const workers: Plugin = {
    name: 'ide-workers',
    setup(plugin) {
      plugin.onResolve({ filter: /^ide-worker:/ }, (args) => ({ path: args.path, namespace: 'ide-worker' }));
      plugin.onLoad({ filter: /.*/, namespace: 'ide-worker' }, async (args) => {
        const name = args.path.slice('ide-worker:'.length);
        const source = workerEntries[name];
        if (!source) return { errors: [{ text: `no IDE worker named ${name}` }] };
        const result = await esbuild.build({
          ...common,
          entryPoints: [fileURLToPath(import.meta.resolve(source))],
          format: 'iife',
        });
        const code = result.outputFiles.find((file) => file.path.endsWith('.js'))?.text ?? '';
        return { contents: `export default ${JSON.stringify(code)};`, loader: 'js' };
      });
    },
  };

  const result = await esbuild.build({
    ...common,
    entryPoints: [entry],
    format: 'esm',
    // Output paths only name the files in memory; nothing is written.
    outdir: 'ide',
    plugins: [workers],
  });
  const script = result.outputFiles.find((file) => file.path.endsWith('.js'))?.text;
  const style = result.outputFiles.find((file) => file.path.endsWith('.css'))?.text;
  if (script === undefined || style === undefined) throw new Error('the IDE bundle has no script or no style');
  return { script, style };
}
