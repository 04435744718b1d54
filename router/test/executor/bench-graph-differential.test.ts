import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchSubgraphNames, resolvers } from '../../../bench/subgraphs/resolvers.ts';
import { benchWorkloadOperations } from '../../../test/support/bench-workloads.ts';
import { canonicalJson } from './canonical.ts';
import type { CorpusCase, CorpusSubgraph } from './corpus/case.ts';
import {
  caseDataSources,
  composeCase,
  executors,
  startExecutor,
  type ExecutorName,
  type RunningExecutor,
} from './executors.ts';

/**
 * The benchmark workloads that run on the public benchmark's graph (heavy,
 * tiny), through every executor, over that graph's own subgraphs served
 * in-process: the heavy query's six levels of entity fetches and 88 KB
 * answer are where an executor's merging is most likely to go wrong.
 */

const benchGraph: CorpusCase = {
  name: 'benchmark graph',
  subgraphs: benchSubgraphNames.map((name): CorpusSubgraph => ({
    name,
    typeDefs: readFileSync(new URL(`../../../bench/subgraphs/${name}.graphql`, import.meta.url), 'utf8'),
    // Plain resolver maps that ignore their context; typed `object` where they are defined.
    resolvers: resolvers[name] as CorpusSubgraph['resolvers'],
  })),
  operations: [],
};

const operations = (await benchWorkloadOperations()).filter(({ graph }) => graph === 'bench');
const running = new Map<ExecutorName, RunningExecutor>();

beforeAll(async () => {
  const supergraphSdl = composeCase(benchGraph);
  for (const name of executors) {
    running.set(name, await startExecutor(name, { supergraphSdl, dataSource: caseDataSources(benchGraph) }));
  }
});

afterAll(async () => {
  await Promise.all([...running.values()].map((executor) => executor.stop()));
});

async function run(name: ExecutorName, operation: (typeof operations)[number]) {
  const executor = running.get(name);
  if (!executor) throw new Error(`${name} did not start`);
  return executor.execute(operation);
}

describe.each(operations)('workload $name', (operation) => {
  it.each([...executors])('answers in full, without errors, through %s', async (name) => {
    const { response, subgraphRequests } = await run(name, operation);
    expect(response.errors).toBeUndefined();
    // No null anywhere: the benchmark's data has every field, so a null is a lost merge.
    expect(JSON.stringify(response.data)).not.toContain('null');
    expect(Object.keys(subgraphRequests).length).toBeGreaterThan(0);
  });

  if (executors.length > 1) {
    it('gets the same answer from every executor', async () => {
      const [first, ...others] = executors;
      const reference = canonicalJson((await run(first, operation)).response);
      for (const name of others) expect(canonicalJson((await run(name, operation)).response), name).toBe(reference);
    });
  }
});
