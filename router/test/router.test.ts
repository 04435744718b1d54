import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { schemaFileOf, subgraphs } from '../../subgraphs/registry.ts';
import { postGraphQL } from '../../test/support/shop-graph.ts';
import { createGate, startTimingSubgraph, timingSdl } from '../../test/support/timing-subgraph.ts';
import { startRouter, type RouterSettings } from '../src/router.ts';
import { until } from '../../test/support/until.ts';

/** Router lifecycle in-process: how it notices new supergraphs, and what it does after stopping. */

let workdir: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  workdir = await mkdtemp(join(tmpdir(), 'router-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(workdir, { recursive: true, force: true });
});

/** A supergraph of the shop's subgraphs at an address nobody serves; `extra` changes it. */
function shopSupergraph(extra = ''): string {
  const outcome = composeSupergraph(
    subgraphs.map(({ name }) => ({
      name,
      url: 'http://127.0.0.1:9/graphql',
      sdl: readFileSync(schemaFileOf(name), 'utf8') + (name === 'accounts' ? extra : ''),
    })),
  );
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  return outcome.supergraphSdl;
}

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, messages: () => lines.map((line) => line.msg) };
}

async function router(supergraphPath: string, overrides: Partial<RouterSettings> = {}) {
  const { logger, messages } = capturingLogger();
  const running = await startRouter(
    {
      host: '127.0.0.1',
      port: 0,
      supergraphPath,
      watchSupergraph: true,
      subgraphUrls: {},
      nodeEnv: 'test',
      ...overrides,
    },
    logger,
  );
  cleanups.push(() => running.stop());
  return { running, messages };
}

describe('supergraph watching', () => {
  it('reloads when a Kubernetes ConfigMap update swaps the ..data symlink', async () => {
    // The layout kubelet writes: the file is a symlink through ..data into a timestamped folder.
    await mkdir(join(workdir, '..2026_01'));
    await writeFile(join(workdir, '..2026_01', 'supergraph.graphql'), shopSupergraph());
    await symlink('..2026_01', join(workdir, '..data'));
    await symlink('..data/supergraph.graphql', join(workdir, 'supergraph.graphql'));
    const { running } = await router(join(workdir, 'supergraph.graphql'));
    const before = running.graphId();

    await mkdir(join(workdir, '..2026_02'));
    await writeFile(
      join(workdir, '..2026_02', 'supergraph.graphql'),
      shopSupergraph('extend type Query { ping: String }'),
    );
    await symlink('..2026_02', join(workdir, '..data_tmp'));
    await rename(join(workdir, '..data_tmp'), join(workdir, '..data'));

    await until(() => running.graphId() !== before);
    const response = await postGraphQL(running.url, '{ __type(name: "Query") { fields { name } } }');
    expect(JSON.stringify(response.body)).toContain('"ping"');
  });

  it('does not reload once stopped, even for a change it saw just before', async () => {
    const path = join(workdir, 'supergraph.graphql');
    await writeFile(path, shopSupergraph());
    const { running, messages } = await router(path);
    const before = running.graphId();

    await writeFile(path, shopSupergraph('extend type Query { ping: String }'));
    await running.stop();
    await sleep(500);
    expect(running.graphId()).toBe(before);
    expect(messages()).not.toContain('supergraph reloaded');
  });
});

describe('draining a replaced supergraph', () => {
  it('stops the old gateway at the drain deadline even if a request never finishes', async () => {
    const gate = createGate();
    const timing = await startTimingSubgraph(gate);
    cleanups.push(async () => {
      gate.open();
      await timing.stop();
    });
    const compose = (field: string) => {
      const outcome = composeSupergraph([{ name: 'timing', url: timing.url, sdl: timingSdl(field) }]);
      if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
      return outcome.supergraphSdl;
    };
    const path = join(workdir, 'supergraph.graphql');
    await writeFile(path, compose('slow'));
    const { running, messages } = await router(path, { watchSupergraph: false, drainTimeoutMs: 300 });

    gate.close();
    const hung = postGraphQL(running.url, '{ slow(ms: 1) }').catch((error: unknown) => error);
    await until(() => gate.waiting === 1);
    await writeFile(path, compose('slowV2'));
    expect(await running.reload()).toMatchObject({ status: 'reloaded' });

    await until(() => messages().includes('drain deadline passed; stopping'));
    gate.open();
    await hung;
  });
});
