import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/** The IDE's code and styles, ready to inline in its page. */
export interface IdeBundle {
  script: string;
  style: string;
}

const entry = fileURLToPath(new URL('./client/main.js', import.meta.url));

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
 * and a router that never serves the page never pays for it (a few seconds
 * of CPU). esbuild is imported here, not at the top of the module, because
 * it is a devDependency: a production install has no IDE and no esbuild.
 * A failed build is forgotten, so the next page load tries again.
 */
export function ideBundle(): Promise<IdeBundle> {
  building ??= build().catch((error: unknown) => {
    building = null;
    throw error;
  });
  return building;
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
