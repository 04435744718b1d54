/**
 * Hot reload for `npm start` in development. It watches each subgraph's
 * schema.graphql, src/ and migrations/; after a save it composes every
 * subgraph's SDL on disk, restarts the subgraphs that changed, and only then
 * writes schema/supergraph.graphql and schema/api.graphql, which the router
 * watches and reloads without dropping a request (router/src/router.ts).
 *
 * The order is the point: a subgraph serves its new schema before the
 * router plans against it. A change that does not compose, or a subgraph
 * that does not start, leaves the supergraph files alone, so the router
 * keeps the last good graph; the change stays pending and is applied with
 * the next save.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { readSubgraphSources, supergraphFiles, type SupergraphFile } from '../supergraph-files.ts';
import { watchFolder, type FolderWatch } from './watch-folder.ts';

export interface WatchedSubgraph {
  name: string;
  /** Its port in the registry: composition records `localRoutingUrl(port)`, as `npm run compose` does. */
  port: number;
  /** Its folder, holding schema.graphql, src/ and migrations/. */
  dir: string;
}

export interface HotReloadOptions {
  subgraphs: readonly WatchedSubgraph[];
  /** Where supergraph.graphql and api.graphql are written: the folder the router watches. */
  schemaDir: string;
  /**
   * Stops the subgraph's process once its in-flight requests are done,
   * starts it again on the code now on disk, and resolves when it is ready;
   * rejects, saying why, when it does not start.
   */
  restartSubgraph(name: string): Promise<void>;
  /**
   * The id of the graph the router serves now, or null when it cannot tell.
   * Used to confirm that the router reloaded. Default: no confirmation.
   */
  routerGraphId?: () => Promise<string | null>;
  /** Called once per recomposition, and when a folder cannot be watched. */
  report(outcome: HotReloadOutcome): void;
  /** Quiet time after the last change before recomposing, since editors save in bursts. Default: 150 ms. */
  debounceMs?: number;
  /** How long the router may take to serve a new supergraph before the reload is reported unconfirmed. Default: 15 s. */
  routerReloadTimeoutMs?: number;
}

/** A subgraph with changes not yet applied, and the files that changed (relative to its folder). */
export interface SubgraphChange {
  name: string;
  /** Empty when the subgraph is restarted only because its process had exited. */
  files: string[];
}

export type HotReloadOutcome =
  | {
      status: 'reloaded';
      changes: SubgraphChange[];
      /** Whether the composed supergraph differed from the one on disk, and was written. */
      supergraphWritten: boolean;
      /** The graph the router switched to; null when it did not confirm within the timeout, or cannot tell. */
      graphId: string | null;
      durationMs: number;
    }
  | { status: 'composition-failed'; changes: SubgraphChange[]; errors: string[] }
  | {
      status: 'restart-failed';
      changes: SubgraphChange[];
      failures: Array<{ name: string; reason: string }>;
    }
  /** Something else went wrong, such as a schema file that cannot be read; the changes stay pending. */
  | { status: 'failed'; changes: SubgraphChange[]; reason: string }
  /** Every change not applied yet was undone: what runs is what is on disk again, after a failure. */
  | { status: 'reverted' }
  | { status: 'watch-failed'; name: string; reason: string };

export interface HotReload {
  /** Restarts this subgraph with the next change, even if none of its files changed: its process exited. */
  restartOnNextChange(name: string): void;
  /** Stops watching; a recomposition under way finishes first. */
  close(): Promise<void>;
}

/** Watches the subgraphs' folders; see the module comment. */
export async function watchSubgraphs({
  subgraphs,
  schemaDir,
  restartSubgraph,
  routerGraphId,
  report,
  debounceMs = 150,
  routerReloadTimeoutMs = 15_000,
}: HotReloadOptions): Promise<HotReload> {
  /** Each subgraph's files as its running process was started on them. */
  const running = new Map<string, Fingerprint>();
  /** Each subgraph's files as last seen on disk. */
  const onDisk = new Map<string, Fingerprint>();
  /** Subgraphs with no process: they failed to start, or exited. */
  const down = new Set<string>();
  /** Subgraphs with an event since the last look; their files may or may not have changed. */
  const touched = new Set<string>();
  let failing = false;
  let debounce: NodeJS.Timeout | undefined;
  let queue = Promise.resolve();
  let closed = false;

  /** Subgraphs whose process does not run what is on disk. */
  const pendingChanges = (): SubgraphChange[] =>
    subgraphs.flatMap(({ name }) => {
      const files = changedFiles(running.get(name)!, onDisk.get(name)!);
      return files.length > 0 || down.has(name) ? [{ name, files }] : [];
    });

  const schedule = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      // One recomposition at a time: changes made while one runs wait for the next.
      queue = queue.then(recompose).catch((error: unknown) => {
        failing = true;
        report({
          status: 'failed',
          changes: pendingChanges(),
          reason: error instanceof Error ? error.message : String(error),
        });
      });
    }, debounceMs);
  };

  const watchers: FolderWatch[] = [];
  for (const { name, dir } of subgraphs) {
    const files = await fingerprint(dir);
    running.set(name, files);
    onDisk.set(name, files);
    watchers.push(
      await watchFolder(dir, {
        include: isWatchedPath,
        onChange: () => {
          touched.add(name);
          schedule();
        },
        onError: (error) => report({ status: 'watch-failed', name, reason: error.message }),
      }),
    );
  }

  async function recompose(): Promise<void> {
    if (closed) return;
    const looked = [...touched];
    touched.clear();
    for (const { name, dir } of subgraphs) if (looked.includes(name)) onDisk.set(name, await fingerprint(dir));
    // A save without changes, or `touch`, restarts nothing; nor does undoing a change that was not applied yet.
    const changes = pendingChanges();
    if (changes.length === 0) {
      if (failing) report({ status: 'reverted' });
      failing = false;
      return;
    }

    const started = performance.now();
    const composed = composeSupergraph(
      await readSubgraphSources(
        subgraphs.map(({ name, port, dir }) => ({ name, port, schemaFile: join(dir, 'schema.graphql') })),
      ),
    );
    if (!composed.ok) {
      failing = true;
      return report({ status: 'composition-failed', changes, errors: composed.errors });
    }
    if (closed) return;

    const results = await Promise.allSettled(
      changes.map(async ({ name }) => {
        const files = onDisk.get(name)!;
        down.add(name);
        await restartSubgraph(name);
        down.delete(name);
        running.set(name, files);
      }),
    );
    const failures = results.flatMap((result, index) =>
      result.status === 'rejected'
        ? [
            {
              name: changes[index]!.name,
              reason: result.reason instanceof Error ? result.reason.message : String(result.reason),
            },
          ]
        : [],
    );
    // A subgraph that is down cannot serve the new schema: the router stays on the last good graph.
    if (failures.length > 0) {
      failing = true;
      return report({ status: 'restart-failed', changes, failures });
    }
    if (closed) return;

    const previousGraphId = (await routerGraphId?.()) ?? null;
    const supergraphWritten = await writeChangedFiles(schemaDir, supergraphFiles(composed));
    const graphId =
      supergraphWritten && routerGraphId
        ? await routerSwitch(routerGraphId, previousGraphId, routerReloadTimeoutMs, () => closed)
        : null;
    failing = false;
    report({ status: 'reloaded', changes, supergraphWritten, graphId, durationMs: performance.now() - started });
  }

  return {
    restartOnNextChange(name) {
      down.add(name);
    },
    async close() {
      closed = true;
      clearTimeout(debounce);
      for (const watcher of watchers) watcher.close();
      await queue;
    },
  };
}

/** One line per reload, and the composition errors as they are, for the terminal. */
export function describeHotReload(outcome: HotReloadOutcome): string {
  switch (outcome.status) {
    case 'reloaded': {
      const seconds = `(${(outcome.durationMs / 1000).toFixed(1)} s)`;
      const what = outcome.changes.map(({ name }) => name).join(', ');
      if (!outcome.supergraphWritten)
        return `✓ ${describeChanges(outcome.changes)}: restarted ${what}; supergraph unchanged ${seconds}`;
      return outcome.graphId
        ? `✓ ${describeChanges(outcome.changes)}: composed, restarted ${what}, router reloaded to graph ${outcome.graphId} ${seconds}`
        : `! ${describeChanges(outcome.changes)}: composed, restarted ${what}, wrote schema/supergraph.graphql, but the router still serves the previous graph: its log says why, unless SUPERGRAPH_WATCH is off or SUPERGRAPH_PATH names another file ${seconds}`;
    }
    case 'composition-failed':
      return [
        `✗ ${describeChanges(outcome.changes)}: the subgraphs do not compose. Nothing was restarted or written; the last good graph keeps serving.`,
        '',
        ...outcome.errors.flatMap((error) => [error, '']),
      ].join('\n');
    case 'restart-failed':
      return outcome.failures
        .map(
          ({ name, reason }) =>
            `✗ ${describeChanges(outcome.changes)}: composed, but ${name} did not start: ${reason}. The router keeps the last good graph; save again to retry.`,
        )
        .join('\n');
    case 'failed':
      return `✗ ${describeChanges(outcome.changes)}: ${outcome.reason}. The last good graph keeps serving; save again to retry.`;
    case 'reverted':
      return '✓ The subgraphs are back to what is running; nothing to reload.';
    case 'watch-failed':
      return `✗ cannot watch ${outcome.name} (${outcome.reason}); its changes will not reload.`;
  }
}

function describeChanges(changes: readonly SubgraphChange[]): string {
  return changes
    .map(({ name, files }) => `${name} (${files.length > 0 ? files.join(', ') : 'not running'})`)
    .join(', ');
}

/**
 * Whether a path (relative to the subgraph's folder) may hold what the
 * subgraph serves: schema.graphql, src/ and migrations/, but not generated
 * code (codegen follows a schema change already seen), tests or hidden
 * files. Events under these paths trigger a look at the files; folders
 * count, since a folder moved in can arrive as one event.
 */
function isWatchedPath(path: string): boolean {
  const parts = path.split(sep);
  if (parts.length === 1) return ['schema.graphql', 'src', 'migrations'].includes(parts[0]!);
  if (parts[0] !== 'src' && parts[0] !== 'migrations') return false;
  return !parts.some(
    (part) => part.startsWith('.') || part === '__generated__' || part === 'test' || part === '__tests__',
  );
}

/**
 * Whether a file counts as a change to the subgraph: under a watched path,
 * by its extension, so that editors' temporary files (`x.ts~`,
 * `x.ts___jb_tmp___`, vim's `4913`) and tests do not.
 */
export function isWatchedFile(path: string): boolean {
  if (!isWatchedPath(path)) return false;
  const file = path.split(sep).at(-1)!;
  if (/\.test\.[cm]?[jt]s$/.test(file)) return false;
  return /\.([cm]?[jt]s|json|graphql|sql)$/.test(file);
}

/** A digest of each watched file in a subgraph's folder, by path. */
type Fingerprint = ReadonlyMap<string, string>;

function changedFiles(before: Fingerprint, after: Fingerprint): string[] {
  return [...new Set([...before.keys(), ...after.keys()])]
    .filter((file) => before.get(file) !== after.get(file))
    .sort();
}

async function fingerprint(dir: string): Promise<Fingerprint> {
  const digests = new Map<string, string>();
  const paths = await readdir(dir, { recursive: true });
  await Promise.all(
    paths.filter(isWatchedFile).map(async (path) => {
      try {
        const content = await readFile(join(dir, path));
        digests.set(path.split(sep).join('/'), createHash('sha1').update(content).digest('hex'));
      } catch {
        // Deleted since the listing, or a folder with a file-like name: not there is a change too.
      }
    }),
  );
  return digests;
}

/** Writes each file that differs from what is on disk; true when the supergraph was one of them. */
async function writeChangedFiles(dir: string, files: readonly SupergraphFile[]): Promise<boolean> {
  let supergraphWritten = false;
  for (const { name, content } of files) {
    const path = join(dir, name);
    const current = await readFile(path, 'utf8').catch(() => null);
    if (current === content) continue;
    // Write aside, then rename over: the router never reads a half-written supergraph.
    const aside = join(dir, `.${name}.${process.pid}.tmp`);
    await writeFile(aside, content);
    await rename(aside, path);
    if (name === 'supergraph.graphql') supergraphWritten = true;
  }
  return supergraphWritten;
}

/** Waits for the router to serve a graph other than `previous`; null if it does not within the timeout. */
async function routerSwitch(
  graphId: () => Promise<string | null>,
  previous: string | null,
  timeoutMs: number,
  cancelled: () => boolean,
): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !cancelled()) {
    const id = await graphId();
    if (id !== null && id !== previous) return id;
    await sleep(100);
  }
  return null;
}
