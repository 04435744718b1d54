import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { schemaFileOf, subgraphs } from '../../subgraphs/registry.ts';
import { until } from '../../test/support/until.ts';
import { readSubgraphSources, supergraphFiles } from '../supergraph-files.ts';
import {
  describeHotReload,
  isWatchedFile,
  watchSubgraphs,
  type HotReload,
  type HotReloadOutcome,
} from './hot-reload.ts';

/**
 * The watcher on a copy of the subgraphs' schema files in a temporary
 * folder, with the process restarts faked: what it composes, restarts and
 * writes, in which order, and what it leaves alone.
 */

const debounceMs = 100;
// Longer than the debounce plus a composition on a busy machine: after it, no outcome means none is coming.
const quietMs = 1_000;

let workdir: string;
let schemaDir: string;
let hotReload: HotReload;
let outcomes: HotReloadOutcome[];
let restarts: string[];
/** What the supergraph file held when each restart began. */
let supergraphAtRestart: string[];
let failingRestarts: Set<string>;

const subgraphDir = (name: string) => join(workdir, 'subgraphs', name);
const schemaPath = (name: string) => join(subgraphDir(name), 'schema.graphql');
const readSchemaFile = (name: string) => readFileSync(join(schemaDir, name), 'utf8');
const digest = (content: string) => createHash('sha256').update(content).digest('hex').slice(0, 12);

/** Saves the way many editors do: write a temporary file beside it, then rename it over. */
function save(path: string, content: string) {
  const aside = join(path, '..', `.${path.split('/').at(-1)}.tmp`);
  writeFileSync(aside, content);
  renameSync(aside, path);
}

function editSchema(name: string, from: string, to: string) {
  const before = readFileSync(schemaPath(name), 'utf8');
  const after = before.replace(from, to);
  expect(after).not.toBe(before);
  save(schemaPath(name), after);
}

async function nextOutcome(count = outcomes.length + 1): Promise<HotReloadOutcome> {
  await until(() => outcomes.length >= count, { timeoutMs: 10_000, what: `hot reload outcome ${count}` });
  return outcomes[count - 1]!;
}

/** What `npm run compose` would write for the subgraph folders as they are now. */
async function composedNow() {
  const composed = composeSupergraph(
    await readSubgraphSources(subgraphs.map(({ name, port }) => ({ name, port, schemaFile: schemaPath(name) }))),
  );
  if (!composed.ok) throw new Error(composed.errors.join('\n'));
  return Object.fromEntries(supergraphFiles(composed).map(({ name, content }) => [name, content]));
}

describe('hot reload', () => {
  beforeEach(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'hot-reload-'));
    for (const { name } of subgraphs) {
      mkdirSync(join(subgraphDir(name), 'src'), { recursive: true });
      cpSync(fileURLToPath(schemaFileOf(name)), schemaPath(name));
      writeFileSync(join(subgraphDir(name), 'src', 'resolvers.ts'), 'export const resolvers = {};\n');
    }
    schemaDir = join(workdir, 'schema');
    mkdirSync(schemaDir);
    for (const [name, content] of Object.entries(await composedNow())) writeFileSync(join(schemaDir, name), content);

    outcomes = [];
    restarts = [];
    supergraphAtRestart = [];
    failingRestarts = new Set();
    hotReload = await watchSubgraphs({
      subgraphs: subgraphs.map(({ name, port }) => ({ name, port, dir: subgraphDir(name) })),
      schemaDir,
      debounceMs,
      async restartSubgraph(name) {
        restarts.push(name);
        supergraphAtRestart.push(readSchemaFile('supergraph.graphql'));
        await sleep(20);
        if (failingRestarts.has(name)) throw new Error('it exited (code 1) before it was ready');
      },
      // A router that serves whatever supergraph file is on disk, with ids as the router makes them.
      routerGraphId: async () => digest(readSchemaFile('supergraph.graphql')),
      report: (outcome) => outcomes.push(outcome),
    });
  });

  afterEach(async () => {
    await hotReload.close();
    rmSync(workdir, { recursive: true, force: true });
  });

  it('restarts the changed subgraph, then writes the supergraph and API schema that npm run compose would', async () => {
    const before = readSchemaFile('supergraph.graphql');
    editSchema(
      'reviews',
      '  rating: Int!\n',
      '  rating: Int!\n  "Who wrote it, as kept with the review."\n  authorUsername: String\n',
    );

    const outcome = await nextOutcome();
    expect(outcome).toMatchObject({
      status: 'reloaded',
      changes: [{ name: 'reviews', files: ['schema.graphql'] }],
      supergraphWritten: true,
    });
    expect(restarts).toEqual(['reviews']);
    // The subgraph was restarted while the router could only plan against the old graph.
    expect(supergraphAtRestart).toEqual([before]);

    const expected = await composedNow();
    expect(readSchemaFile('supergraph.graphql')).toBe(expected['supergraph.graphql']);
    expect(readSchemaFile('api.graphql')).toBe(expected['api.graphql']);
    expect(readSchemaFile('api.graphql')).toContain('authorUsername: String');
    expect(outcome.status === 'reloaded' && outcome.graphId).toBe(digest(expected['supergraph.graphql']!));
    expect(describeHotReload(outcome)).toMatch(
      /^✓ reviews \(schema\.graphql\): composed, restarted reviews, router reloaded to graph [0-9a-f]{12} \(\d+\.\d s\)$/,
    );
  });

  it('only restarts the subgraph when its code changes and the supergraph does not', async () => {
    const supergraph = statSync(join(schemaDir, 'supergraph.graphql'));
    save(join(subgraphDir('inventory'), 'src', 'resolvers.ts'), 'export const resolvers = { Query: {} };\n');

    const outcome = await nextOutcome();
    expect(outcome).toMatchObject({
      status: 'reloaded',
      changes: [{ name: 'inventory', files: ['src/resolvers.ts'] }],
      supergraphWritten: false,
      graphId: null,
    });
    expect(restarts).toEqual(['inventory']);
    expect(statSync(join(schemaDir, 'supergraph.graphql')).mtimeMs).toBe(supergraph.mtimeMs);
    expect(describeHotReload(outcome)).toMatch(
      /^✓ inventory \(src\/resolvers\.ts\): restarted inventory; supergraph unchanged/,
    );
  });

  it('reports a change that does not compose, naming the subgraph, and restarts and writes nothing', async () => {
    const files = { supergraph: readSchemaFile('supergraph.graphql'), api: readSchemaFile('api.graphql') };
    const mtime = statSync(join(schemaDir, 'supergraph.graphql')).mtimeMs;
    editSchema('reviews', '  rating: Int!\n', '  rating: Int!\n  oops: NoSuchType\n');

    const outcome = await nextOutcome();
    expect(outcome).toMatchObject({ status: 'composition-failed', changes: [{ name: 'reviews' }] });
    if (outcome.status !== 'composition-failed') return;
    expect(outcome.errors.join('\n')).toContain('reviews');
    expect(outcome.errors.join('\n')).toContain('NoSuchType');
    const text = describeHotReload(outcome);
    expect(text.split('\n')[0]).toBe(
      '✗ reviews (schema.graphql): the subgraphs do not compose. Nothing was restarted or written; the last good graph keeps serving.',
    );
    // The errors are printed as composition formats them.
    for (const error of outcome.errors) expect(text).toContain(error);

    expect(restarts).toEqual([]);
    expect({ supergraph: readSchemaFile('supergraph.graphql'), api: readSchemaFile('api.graphql') }).toEqual(files);
    expect(statSync(join(schemaDir, 'supergraph.graphql')).mtimeMs).toBe(mtime);

    // Fixed in another subgraph's file or this one, the change is applied as a whole.
    editSchema('reviews', '  oops: NoSuchType\n', '  oops: String\n');
    expect(await nextOutcome()).toMatchObject({ status: 'reloaded', supergraphWritten: true });
    expect(restarts).toEqual(['reviews']);
    expect(readSchemaFile('api.graphql')).toContain('oops: String');
  });

  it('restarts nothing when a change that did not compose is undone', async () => {
    const schema = readFileSync(schemaPath('reviews'), 'utf8');
    editSchema('reviews', '  rating: Int!\n', '  rating: Int!\n  oops: NoSuchType\n');
    expect(await nextOutcome()).toMatchObject({ status: 'composition-failed' });
    save(schemaPath('reviews'), schema);
    const outcome = await nextOutcome();
    expect(outcome).toEqual({ status: 'reverted' });
    expect(describeHotReload(outcome)).toBe('✓ The subgraphs are back to what is running; nothing to reload.');
    expect(restarts).toEqual([]);
  });

  it('debounces a burst of saves into one recomposition', async () => {
    for (let index = 0; index < 5; index++) {
      save(join(subgraphDir('products'), 'src', 'resolvers.ts'), `export const resolvers = {}; // ${index}\n`);
      if (index === 2) editSchema('products', '  name: String!\n', '  name: String!\n  subtitle: String\n');
      await sleep(debounceMs / 5);
    }
    const outcome = await nextOutcome();
    await sleep(quietMs);
    expect(outcomes).toHaveLength(1);
    expect(outcome).toMatchObject({
      status: 'reloaded',
      changes: [{ name: 'products', files: ['schema.graphql', 'src/resolvers.ts'] }],
      supergraphWritten: true,
    });
    expect(restarts).toEqual(['products']);
  });

  it('keeps the last good supergraph when the subgraph does not start, and retries with the next save', async () => {
    const supergraph = readSchemaFile('supergraph.graphql');
    failingRestarts.add('orders');
    editSchema('orders', '  quantity: Int!\n', '  quantity: Int!\n  note: String\n');

    const failed = await nextOutcome();
    expect(failed).toMatchObject({
      status: 'restart-failed',
      failures: [{ name: 'orders', reason: 'it exited (code 1) before it was ready' }],
    });
    expect(describeHotReload(failed)).toContain('orders did not start: it exited (code 1) before it was ready');
    expect(readSchemaFile('supergraph.graphql')).toBe(supergraph);

    // The save that fixes it retries, with the schema change still pending.
    failingRestarts.clear();
    save(join(subgraphDir('orders'), 'src', 'resolvers.ts'), 'export const resolvers = { fixed: true };\n');
    expect(await nextOutcome()).toMatchObject({
      status: 'reloaded',
      changes: [{ name: 'orders', files: ['schema.graphql', 'src/resolvers.ts'] }],
      supergraphWritten: true,
    });
    expect(restarts).toEqual(['orders', 'orders']);
    expect(readSchemaFile('api.graphql')).toContain('note: String');
  });

  it('starts a subgraph whose process exited with the next change, even one to another subgraph', async () => {
    hotReload.restartOnNextChange('accounts');
    save(join(subgraphDir('reviews'), 'src', 'resolvers.ts'), 'export const resolvers = { changed: true };\n');
    expect(await nextOutcome()).toMatchObject({
      status: 'reloaded',
      changes: [
        { name: 'accounts', files: [] },
        { name: 'reviews', files: ['src/resolvers.ts'] },
      ],
    });
    expect(restarts.sort()).toEqual(['accounts', 'reviews']);
    expect(describeHotReload(outcomes[0]!)).toMatch(
      /^✓ accounts \(not running\), reviews \(src\/resolvers\.ts\): restarted accounts, reviews;/,
    );
  });

  it('ignores saves that change nothing, tests, generated code and editor temporary files', async () => {
    const resolvers = join(subgraphDir('accounts'), 'src', 'resolvers.ts');
    save(resolvers, readFileSync(resolvers, 'utf8'));
    save(schemaPath('accounts'), readFileSync(schemaPath('accounts'), 'utf8'));
    mkdirSync(join(subgraphDir('accounts'), 'src', '__generated__'));
    writeFileSync(join(subgraphDir('accounts'), 'src', '__generated__', 'resolvers.ts'), 'export {};\n');
    writeFileSync(join(subgraphDir('accounts'), 'src', 'resolvers.test.ts'), 'export {};\n');
    writeFileSync(join(subgraphDir('accounts'), 'src', '.resolvers.ts.swp'), 'swap');
    writeFileSync(join(subgraphDir('accounts'), 'src', 'resolvers.ts~'), 'backup');
    mkdirSync(join(subgraphDir('accounts'), 'test'));
    writeFileSync(join(subgraphDir('accounts'), 'test', 'accounts.test.ts'), 'export {};\n');
    await sleep(quietMs);
    expect(outcomes).toEqual([]);
    expect(restarts).toEqual([]);
  });

  it('watches folders created after it started', async () => {
    mkdirSync(join(subgraphDir('accounts'), 'src', 'loaders'));
    await sleep(debounceMs * 3);
    save(join(subgraphDir('accounts'), 'src', 'loaders', 'users.ts'), 'export const users = 1;\n');
    expect(await nextOutcome()).toMatchObject({
      status: 'reloaded',
      changes: [{ name: 'accounts', files: ['src/loaders/users.ts'] }],
    });
    save(join(subgraphDir('accounts'), 'src', 'loaders', 'users.ts'), 'export const users = 2;\n');
    expect(await nextOutcome()).toMatchObject({ status: 'reloaded' });
  });
});

describe('isWatchedFile', () => {
  it.each([
    ['schema.graphql', true],
    ['src/resolvers.ts', true],
    ['src/db/schema.ts', true],
    ['migrations/0001_initial.sql', true],
    ['migrations/meta/_journal.json', true],
    ['src/__generated__/resolvers.ts', false],
    ['src/resolvers.test.ts', false],
    ['test/contract.int.test.ts', false],
    ['src/.resolvers.ts.swp', false],
    ['src/resolvers.ts~', false],
    ['src/resolvers.ts___jb_tmp___', false],
    ['src/4913', false],
    ['README.md', false],
  ])('%s: %s', (path, watched) => {
    expect(isWatchedFile(path)).toBe(watched);
  });
});
