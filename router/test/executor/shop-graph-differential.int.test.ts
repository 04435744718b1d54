import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FormattedExecutionResult } from 'graphql';
import { createIdentitySigner } from '../../../platform/src/identity.ts';
import { seedUser } from '../../../seed/world.ts';
import { benchWorkloadOperations } from '../../../test/support/bench-workloads.ts';
import { composeFor, startSubgraphs, type StartedSubgraphs } from '../../../test/support/shop-graph.ts';
import { shippedOperations } from '../../../test/support/shipped-operations.ts';
import { testIdentitySecret } from '../../../test/support/tokens.ts';
import { withSubgraphEnforcedSecurity } from '../../src/executor/served-supergraph.ts';
import { SubgraphFetch } from '../../src/subgraph-fetch/index.ts';
import { canonicalJson } from './canonical.ts';
import { executors, startExecutor, type ExecutorName, type ExecutorRun } from './executors.ts';

/**
 * The shop graph's shipped operations and the benchmark's shop workloads,
 * through every executor, against the real subgraphs on real Postgres,
 * reached through the router's own data source (SubgraphFetch) as in
 * production. Each executor gets a graph of its own, freshly seeded with
 * the same deterministic `small` world, and runs the same sequence on it:
 * every query first, then every mutation. So the mutations change the same
 * state the same way, and every answer can be compared, except the few
 * values a mutation mints anew (see `minted`).
 */

interface Operation {
  name: string;
  kind: 'query' | 'mutation' | 'subscription';
  query: string;
  variables: Record<string, unknown>;
  signedIn: boolean;
  /** The subgraphs the operations report says its plan fetches from; null for a benchmark workload. */
  subgraphs: string[] | null;
}

const shipped: Operation[] = shippedOperations().map(({ name, kind, document, variables, signedIn, report }) => ({
  name,
  kind,
  query: document,
  variables,
  signedIn,
  subgraphs: report.subgraphs,
}));
const workloads: Operation[] = (await benchWorkloadOperations())
  .filter(({ graph }) => graph === 'shop')
  .map(({ name, query, variables, signedIn }) => ({
    name: `workload ${name}`,
    kind: 'query',
    query,
    variables,
    signedIn,
    subgraphs: null,
  }));
/** Queries before mutations, so no query sees a mutation's effect, in the same order for every executor. */
const sequence = [...shipped, ...workloads].sort(
  (a, b) => Number(a.kind === 'mutation') - Number(b.kind === 'mutation'),
);

/**
 * Values a mutation creates afresh on each graph (random ids, the clock),
 * by operation: where executors may rightly differ. Replaced before
 * comparing, after checking they are there.
 */
const minted: Record<string, ReadonlyArray<ReadonlyArray<string>>> = {
  PlaceOrder: [['placeOrder', 'order', 'id']],
  AddReview: [
    ['addReview', 'review', 'id'],
    ['addReview', 'review', 'createdAt'],
  ],
};

interface ExecutorGraph {
  subgraphs: StartedSubgraphs;
  fetchers: SubgraphFetch[];
  runs: Map<string, ExecutorRun>;
  stop(): Promise<void>;
}

const graphs = new Map<ExecutorName, ExecutorGraph>();

/** Starts `name`'s own seeded graph, then runs the whole sequence through it. */
async function runSequence(name: ExecutorName): Promise<ExecutorGraph> {
  const subgraphs = await startSubgraphs(`executor_${name}`);
  const fetchers: SubgraphFetch[] = [];
  const graph: ExecutorGraph = {
    subgraphs,
    fetchers,
    runs: new Map(),
    async stop() {
      await executor?.stop();
      await Promise.all(fetchers.map((fetcher) => fetcher.close()));
      await subgraphs.stop();
    },
  };
  let executor: Awaited<ReturnType<typeof startExecutor>> | undefined;
  try {
    const urls = Object.fromEntries(Object.entries(subgraphs.byName).map(([subgraph, { url }]) => [subgraph, url]));
    executor = await startExecutor(name, {
      // As the router hands it to the gateway: @authenticated is the subgraphs' to enforce.
      supergraphSdl: withSubgraphEnforcedSecurity(composeFor(subgraphs.byName)),
      dataSource: (subgraph) => {
        const url = urls[subgraph];
        if (!url) throw new Error(`no running subgraph ${subgraph}`);
        const fetcher = new SubgraphFetch({ name: subgraph, url });
        fetchers.push(fetcher);
        return fetcher;
      },
    });
    // What the router's authentication plugin puts in the context for a signed-in shopper.
    const identity = await (await createIdentitySigner(testIdentitySecret)).sign({ id: seedUser(0).id, scopes: [] });
    for (const operation of sequence) {
      graph.runs.set(
        operation.name,
        await executor.execute({
          query: operation.query,
          variables: operation.variables,
          identity: operation.signedIn ? identity : null,
        }),
      );
    }
    return graph;
  } catch (error) {
    await graph.stop();
    throw error;
  }
}

beforeAll(async () => {
  // One after another: each graph is five subgraphs on five databases, and CI has two cores.
  for (const name of executors) graphs.set(name, await runSequence(name));
});

afterAll(async () => {
  await Promise.all([...graphs.values()].map((graph) => graph.stop()));
});

function runOf(name: ExecutorName, operation: Operation): ExecutorRun {
  const run = graphs.get(name)?.runs.get(operation.name);
  if (!run) throw new Error(`${operation.name} did not run through ${name}`);
  return run;
}

/** The response with each minted value replaced by a marker, once it is known to be there. */
function withoutMinted(operation: Operation, response: FormattedExecutionResult): string {
  const copy = JSON.parse(JSON.stringify(response)) as FormattedExecutionResult;
  for (const path of minted[operation.name] ?? []) {
    const parent = path
      .slice(0, -1)
      .reduce<unknown>((value, key) => (value as Record<string, unknown>)?.[key], copy.data);
    const last = path[path.length - 1]!;
    const holder = parent as Record<string, unknown> | null | undefined;
    expect(holder?.[last], `${operation.name} answers ${path.join('.')}`).toEqual(expect.any(String));
    holder![last] = '<minted>';
  }
  return canonicalJson(copy);
}

describe.each(sequence)('$name', (operation) => {
  it.each([...executors])('answers without errors through %s', (name) => {
    const { response } = runOf(name, operation);
    expect(response.errors).toBeUndefined();
    expect(Object.values(response.data ?? {})[0]).toBeTruthy();
  });

  if (operation.subgraphs) {
    const { subgraphs } = operation;
    it.each([...executors])('fetches from the subgraphs the operations report names, through %s', (name) => {
      expect(Object.keys(runOf(name, operation).subgraphRequests).sort()).toEqual([...subgraphs].sort());
    });
  }

  if (minted[operation.name]) {
    it.each([...executors])('mints fresh values exactly where expected, through %s', (name) => {
      expect(withoutMinted(operation, runOf(name, operation).response)).toContain('<minted>');
    });
  }

  if (executors.length > 1) {
    it('gets the same answer from every executor', () => {
      const [first, ...others] = executors;
      const reference = withoutMinted(operation, runOf(first, operation).response);
      for (const name of others)
        expect(withoutMinted(operation, runOf(name, operation).response), name).toBe(reference);
    });
  }
});
