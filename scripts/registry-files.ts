/**
 * `npm run registry-files`: rewrites the parts of the deployment files and the
 * README that list every subgraph (compose services, Prometheus targets,
 * database creation, the Dockerfile's EXPOSE, the Kubernetes resources and
 * the router's subgraph URLs, the README's subgraph table and diagram), and
 * writes each subgraph's own Kubernetes file, from subgraphs/registry.ts and
 * each subgraph's manifest.ts.
 * `--check` writes nothing and fails when a file differs from what it would
 * write, as `compose:check` does for the supergraph.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import { loadManifest, subgraphs } from '../subgraphs/registry.ts';
import { registryFiles, RegistryFileError, subgraphFiles } from './registry-files/render.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({ options: { check: { type: 'boolean', default: false } } });

const registered = await Promise.all(
  subgraphs.map(async ({ name, port }) => ({ name, port, manifest: await loadManifest(name) })),
);

/** `current` is null for a subgraph's own file that is not written yet. */
let rendered: Array<{ path: string; current: string | null; content: string }>;
try {
  // Every file is rendered before any is written, so a file that lost its markers changes nothing.
  rendered = await Promise.all([
    ...registryFiles.map(async ({ path, render }) => {
      const current = readFileSync(join(root, path), 'utf8');
      return { path, current, content: await format(path, render(current, registered)) };
    }),
    ...registered.flatMap((subgraph) =>
      subgraphFiles.map(async ({ pathOf, render }) => {
        const path = pathOf(subgraph.name);
        const current = existsSync(join(root, path)) ? readFileSync(join(root, path), 'utf8') : null;
        return { path, current, content: await format(path, render(subgraph)) };
      }),
    ),
  ]);
} catch (error) {
  if (!(error instanceof RegistryFileError)) throw error;
  console.error(`registry-files: ${error.message}. Put the markers back, or update scripts/registry-files/render.ts.`);
  process.exit(1);
}

let stale = 0;
for (const { path, current, content } of rendered) {
  if (current === content) {
    console.log(`${path} is up to date`);
  } else if (flags.check) {
    stale++;
    console.error(`${path} is stale for subgraphs/registry.ts. Run \`npm run registry-files\` and commit the result.`);
  } else {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale === 0 ? 0 : 1);

/** Formats as `npm run format` would, so the check and the formatting check agree; other files stay as they are. */
async function format(path: string, content: string): Promise<string> {
  const file = join(root, path);
  const info = await prettier.getFileInfo(file, { ignorePath: join(root, '.prettierignore') });
  if (info.ignored || !info.inferredParser) return content;
  return prettier.format(content, { ...(await prettier.resolveConfig(file)), filepath: file });
}
