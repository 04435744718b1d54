import { readFileSync } from 'node:fs';
import { operationFromDocument, Supergraph } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode, type QueryPlan } from '@apollo/query-planner';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { benchSubgraphNames } from '../../../bench/subgraphs/resolvers.ts';
import { composeSupergraph } from '../../../platform/src/composition/compose.ts';
import { scheduleOf } from '../../src/executor/schedule.ts';

/**
 * The fetch schedule of the public benchmark's heavy query: its plan, sent
 * wave by wave with every fetch as soon as it is ready, asks the subgraphs
 * eight times; holding the fetches nothing waits for saves two, in as many
 * waves.
 */

const composed = composeSupergraph(
  benchSubgraphNames.map((name) => ({
    name,
    url: `http://${name}.bench.invalid/graphql`,
    sdl: readFileSync(new URL(`../../../bench/subgraphs/${name}.graphql`, import.meta.url), 'utf8'),
  })),
);
if (!composed.ok) throw new Error(composed.errors.join('\n'));
const supergraph = Supergraph.build(composed.supergraphSdl);
const planner = new QueryPlanner(supergraph);

function plan(query: string): QueryPlan {
  return planner.buildQueryPlan(operationFromDocument(supergraph.schema, parse(query)));
}

const heavy = plan(readFileSync(new URL('../../../bench/workloads/heavy.graphql', import.meta.url), 'utf8'));

interface Sent {
  fetch: FetchNode;
  wave: number;
}

/**
 * Sends the plan's fetches as the executor does, every fetch ready and due
 * in a wave going out in it, and lists each with its wave.
 */
function simulate(queryPlan: QueryPlan, notBefore: ReadonlyMap<FetchNode, number>): Sent[] {
  const sent: Sent[] = [];
  // Each node returns the wave after its last fetch, as the executor awaits it.
  const run = (node: PlanNode, ready: number): number => {
    switch (node.kind) {
      case 'Fetch': {
        const wave = Math.max(ready, notBefore.get(node) ?? 0);
        sent.push({ fetch: node, wave });
        return wave + 1;
      }
      case 'Flatten':
        return run(node.node, ready);
      case 'Sequence':
        return node.nodes.reduce((wave, child) => run(child, wave), ready);
      case 'Parallel':
        return Math.max(ready, ...node.nodes.map((child) => run(child, ready)));
      default:
        throw new Error(`the heavy plan has no ${node.kind} node`);
    }
  };
  run(queryPlan.node as PlanNode, 0);
  return sent;
}

/** One request per subgraph per wave: what the executor sends. */
const requests = (sent: Sent[]) => new Set(sent.map(({ fetch, wave }) => `${wave}:${fetch.serviceName}`)).size;
const waves = (sent: Sent[]) => Math.max(...sent.map(({ wave }) => wave)) + 1;

describe('the fetch schedule of the heavy query', () => {
  const asSoonAsReady = simulate(heavy, new Map());
  const scheduled = simulate(heavy, scheduleOf(heavy).notBefore);

  it('asks the subgraphs 6 times instead of 8, in the same 4 waves', () => {
    expect(requests(asSoonAsReady)).toBe(8);
    expect(requests(scheduled)).toBe(6);
    expect(waves(scheduled)).toBe(waves(asSoonAsReady));
    expect(waves(scheduled)).toBe(4);
  });

  it('holds only fetches nothing waits for, and each to a wave its subgraph is asked in anyway', () => {
    const { notBefore } = scheduleOf(heavy);
    expect(notBefore.size).toBeGreaterThan(0);
    for (const [fetch, wave] of notBefore) {
      const others = scheduled.filter((sent) => sent.fetch !== fetch && sent.fetch.serviceName === fetch.serviceName);
      expect(others.some((sent) => sent.wave === wave)).toBe(true);
    }
    // Every fetch that another one needs (its Sequence goes on after it) is sent as soon as it is ready.
    const ready = new Map(asSoonAsReady.map(({ fetch, wave }) => [fetch, wave]));
    for (const { fetch, wave } of scheduled) if (!notBefore.has(fetch)) expect(wave).toBe(ready.get(fetch));
  });

  it('is worked out once per plan', () => {
    expect(scheduleOf(heavy)).toBe(scheduleOf(heavy));
  });

  it('holds nothing in a plan of one wave', () => {
    expect(scheduleOf(plan('{ topProducts { upc name } }')).notBefore.size).toBe(0);
  });
});
