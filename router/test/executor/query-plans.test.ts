import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FetchNode, PlanNode, QueryPlan, SubscriptionNode } from '@apollo/query-planner';
import { InMemoryLRUCache, type KeyValueCache } from '@apollo/utils.keyvaluecache';
import { parse, print, type DocumentNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../../platform/src/composition/compose.ts';
import { createLogger } from '../../../platform/src/logger.ts';
import {
  deserializePlan,
  overrideLabelsOf,
  QueryPlans,
  serializePlan,
  type PlanOrigin,
  type QueryPlansObserver,
} from '../../src/executor/plans/index.ts';
import { loadTrustedDocuments, operationsOf } from '../../src/plugins/trusted-documents/index.ts';
import { plannedDocumentsOf } from '../../src/executor/defer/operation.ts';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const shopSdl = await readFile(root('schema/supergraph.graphql'), 'utf8');
const shopOperations = operationsOf(
  await loadTrustedDocuments(root('operations/__generated__/persisted-documents.json')),
);
/** Plans the shop's operations need: two for one with @defer (answered whole, and in parts). */
const shopPlans = shopOperations.reduce(
  (count, { document }) => count + plannedDocumentsOf(typeof document === 'string' ? parse(document) : document).length,
  0,
);

/** Counts what a QueryPlans instance reports: plans by origin, and planner runs. */
function counting() {
  const served: PlanOrigin[] = [];
  let planned = 0;
  const observer: QueryPlansObserver = {
    queryPlanServed: (origin) => served.push(origin),
    queryPlanned: () => (planned += 1),
  };
  return {
    observer,
    served,
    get planned() {
      return planned;
    },
  };
}

/**
 * Two subgraphs where `Query.greeting` moves from `old` to `new` behind the
 * `beta` label, and `Query.price` behind `percent(5)`: a plan fetches from
 * one subgraph or the other depending on the active labels.
 */
function overriddenSupergraph(): string {
  const link = '@link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@override", "@shareable"])';
  const outcome = composeSupergraph([
    { name: 'old', url: 'http://old.invalid', sdl: `extend schema ${link} type Query { greeting: String price: Int }` },
    {
      name: 'new',
      url: 'http://new.invalid',
      sdl: `extend schema ${link}
        type Query {
          greeting: String @override(from: "old", label: "beta")
          price: Int @override(from: "old", label: "percent(5)")
        }`,
    },
  ]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  return outcome.supergraphSdl;
}

/** A shared cache with its keys in sight, and a gate that holds every read until opened. */
class ObservableCache implements KeyValueCache<string> {
  readonly entries = new Map<string, string>();
  reads = 0;
  private opened: Promise<void> = Promise.resolve();
  private open: () => void = () => {};

  hold(): void {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
  }

  async get(key: string) {
    this.reads += 1;
    await this.opened;
    return this.entries.get(key);
  }

  async set(key: string, value: string) {
    this.entries.set(key, value);
  }

  async delete(key: string) {
    return this.entries.delete(key);
  }
}

function fetches(node: PlanNode | SubscriptionNode | undefined): FetchNode[] {
  if (!node) return [];
  switch (node.kind) {
    case 'Fetch':
      return [node];
    case 'Sequence':
    case 'Parallel':
      return node.nodes.flatMap(fetches);
    case 'Flatten':
      return fetches(node.node);
    case 'Condition':
      return [...fetches(node.ifClause), ...fetches(node.elseClause)];
    case 'Defer':
      return [...fetches(node.primary.node), ...node.deferred.flatMap((deferred) => fetches(deferred.node))];
    case 'Subscription':
      return [node.primary, ...fetches(node.rest)];
  }
}

const servicesOf = (plan: QueryPlan) => fetches(plan.node).map((fetch) => fetch.serviceName);

describe('query plans in memory', () => {
  it('plans an operation once, then hands out the same plan at once', async () => {
    const count = counting();
    const plans = new QueryPlans(shopSdl, { observer: count.observer });
    const request = {
      document: parse('{ categories { id name } }'),
      operationName: undefined,
      overrideLabels: new Set<string>(),
    };

    const first = plans.planFor(request);
    const again = plans.planFor({ ...request, document: parse('query { categories { id   name } }') });
    expect(first).not.toBeInstanceOf(Promise);
    expect(again).toBe(first);
    expect(servicesOf(await first)).toEqual(['products']);
    expect(count.served).toEqual(['planned', 'memory']);
    expect(count.planned).toBe(1);
  });

  it('keys by operation name within one document', () => {
    const plans = new QueryPlans(shopSdl);
    const document = parse('query A { categories { id } } query B { viewer { id } }');
    const none = new Set<string>();
    const a = plans.planFor({ document, operationName: 'A', overrideLabels: none }) as QueryPlan;
    const b = plans.planFor({ document, operationName: 'B', overrideLabels: none }) as QueryPlan;
    expect(servicesOf(a)).toEqual(['products']);
    expect(servicesOf(b)).toEqual(['accounts']);
  });

  it('plans each set of active override labels apart, ignoring labels the supergraph lacks', () => {
    const count = counting();
    const plans = new QueryPlans(overriddenSupergraph(), { observer: count.observer });
    const document = parse('{ greeting price }');
    const planFor = (...labels: string[]) =>
      plans.planFor({ document, operationName: null, overrideLabels: new Set(labels) }) as QueryPlan;

    expect(servicesOf(planFor())).toEqual(['old']);
    expect(servicesOf(planFor('beta'))).toEqual(expect.arrayContaining(['new', 'old']));
    expect(servicesOf(planFor('beta', 'percent(5)'))).toEqual(['new']);
    expect(servicesOf(planFor('percent(5)', 'beta'))).toEqual(['new']);
    expect(servicesOf(planFor('unknown'))).toEqual(['old']);
    expect(count.served).toEqual(['planned', 'planned', 'planned', 'memory', 'memory']);
  });

  it('rejects an operation that is not valid for the supergraph, and keeps nothing for it', async () => {
    const count = counting();
    const plans = new QueryPlans(shopSdl, { observer: count.observer });
    const request = { document: parse('{ nope }'), operationName: undefined, overrideLabels: new Set<string>() };
    expect(() => plans.planFor(request)).toThrow(/nope/);
    expect(() => plans.planFor(request)).toThrow(/nope/);
    expect(count.planned).toBe(2);
    expect(count.served).toEqual([]);
  });
});

describe('warming up', () => {
  it('plans every trusted operation, and reports what it did', async () => {
    const plans = new QueryPlans(shopSdl);
    const cold = await plans.warm(shopOperations);
    expect(shopOperations.length).toBeGreaterThan(5);
    expect(cold).toMatchObject({
      operations: shopOperations.length,
      planned: shopPlans,
      shared: 0,
      memory: 0,
      failed: 0,
    });
    expect(cold.ms).toBeGreaterThan(0);

    const again = await plans.warm(shopOperations);
    expect(again).toMatchObject({ planned: 0, memory: shopPlans, failed: 0 });
  });

  it('counts operations that fail, once for each label set, and goes on', async () => {
    const plans = new QueryPlans(overriddenSupergraph());
    const report = await plans.warm(
      [
        { document: '{ greeting }' },
        { document: '{ greeting', operationName: 'Broken' },
        { document: '{ missing }', operationName: 'Missing' },
        { document: parse('{ price }') },
      ],
      // A label the supergraph lacks plans nothing new: those count as memory.
      { labelSets: [new Set(), new Set(['beta']), new Set(['elsewhere'])] },
    );
    expect(report).toMatchObject({ operations: 12, planned: 4, memory: 2, failed: 6 });
    expect(report.failures.map(({ operationName }) => operationName)).toEqual([
      'Broken',
      'Missing',
      'Missing',
      'Missing',
    ]);
  });

  it('lists every operation of a trusted document, by name', () => {
    const names = shopOperations.map(({ operationName }) => operationName);
    // place-order.graphql defines two mutations in one document.
    expect(names).toEqual(expect.arrayContaining(['PlaceOrder', 'CancelOrder', 'Cart']));
    expect(new Set(names).size).toBe(names.length);
    expect(operationsOf(new Map([['x', '{ broken']]))).toEqual([{ document: '{ broken' }]);
  });
});

describe('the shared cache', () => {
  it('plans a key once for concurrent requests', async () => {
    const shared = new ObservableCache();
    const count = counting();
    const plans = new QueryPlans(shopSdl, { shared, observer: count.observer });
    const overrideLabels = new Set<string>();
    shared.hold();
    const pending = Array.from({ length: 5 }, () =>
      plans.planFor({ document: parse('{ categories { id } }'), operationName: undefined, overrideLabels }),
    );
    shared.release();
    // With a shared cache every first lookup waits for it, so each answer is a promise.
    expect(pending.every((plan) => plan instanceof Promise)).toBe(true);
    const results = await Promise.all(pending.map(async (plan) => plan));
    expect(new Set(results).size).toBe(1);
    expect(count.planned).toBe(1);
    expect(shared.reads).toBe(1);
    expect(count.served).toEqual(['planned', 'planned', 'planned', 'planned', 'planned']);
  });

  it('gives another instance on the same supergraph the plans, and keeps other supergraphs apart', async () => {
    const shared = new ObservableCache();
    await new QueryPlans(shopSdl, { shared }).warm(shopOperations);
    expect([...shared.entries.keys()].every((key) => key.startsWith('qp:'))).toBe(true);

    const count = counting();
    const second = await new QueryPlans(shopSdl, { shared, observer: count.observer }).warm(shopOperations);
    expect(second).toMatchObject({ shared: shopPlans, planned: 0 });
    expect(count.planned).toBe(0);

    const other = await new QueryPlans(`${shopSdl}\n# another version\n`, { shared }).warm(shopOperations);
    expect(other).toMatchObject({ shared: 0, planned: shopPlans });
    expect(shared.entries.size).toBe(2 * shopPlans);
  });

  it('plans again over an unreadable entry, and stores the new plan', async () => {
    const shared = new ObservableCache();
    await new QueryPlans(shopSdl, { shared }).warm(shopOperations);
    const keys = [...shared.entries.keys()];
    shared.entries.set(keys[0]!, '{"v":1,"plan":{"kind":"QueryPlan","node":{"kind":"Fetch"}}}');
    shared.entries.set(keys[1]!, 'not json');

    const count = counting();
    const report = await new QueryPlans(shopSdl, { shared, observer: count.observer }).warm(shopOperations);
    expect(report).toMatchObject({ planned: 2, shared: shopPlans - 2, failed: 0 });
    expect(count.planned).toBe(2);
    const third = await new QueryPlans(shopSdl, { shared }).warm(shopOperations);
    expect(third).toMatchObject({ shared: shopPlans, planned: 0 });
  });

  it('serves plans when the shared cache fails, warning once', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = createLogger({
      service: 'router',
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    });
    const failing: KeyValueCache<string> = {
      get: () => Promise.reject(new Error('connection refused')),
      set: () => Promise.reject(new Error('connection refused')),
      delete: () => Promise.reject(new Error('connection refused')),
    };
    const plans = new QueryPlans(shopSdl, { shared: failing, logger });
    const report = await plans.warm(shopOperations);
    expect(report).toMatchObject({ planned: shopPlans, failed: 0 });
    expect(lines.filter(({ level }) => level === 40).map(({ msg }) => msg)).toEqual([
      'shared query plan cache failing; planning without it',
    ]);
  });

  it('stores plans in a form that reads back equal to the planned ones', async () => {
    for (const exposeDocumentNodeInFetchNode of [false, true]) {
      const plans = new QueryPlans(shopSdl, { planner: { exposeDocumentNodeInFetchNode } });
      for (const { document, operationName } of shopOperations) {
        const plan = (await plans.planFor({
          document: document as DocumentNode,
          operationName,
          overrideLabels: new Set(),
        })) as QueryPlan;
        const read = deserializePlan(serializePlan(plan), { withDocuments: exposeDocumentNodeInFetchNode });
        const withoutDocuments = (value: QueryPlan) =>
          JSON.parse(JSON.stringify(value, (key, field) => (key === 'operationDocumentNode' ? undefined : field)));
        expect(withoutDocuments(read!)).toEqual(withoutDocuments(plan));
        const documents = (value: QueryPlan) =>
          fetches(value.node).map((fetch) => fetch.operationDocumentNode && print(fetch.operationDocumentNode));
        expect(documents(read!)).toEqual(documents(plan));
        if (exposeDocumentNodeInFetchNode) expect(documents(plan).every(Boolean)).toBe(true);
      }
    }
  });

  it('keeps plans of differently configured planners apart', () => {
    const shared = new InMemoryLRUCache<string>();
    const plain = new QueryPlans(shopSdl, { shared });
    const fragments = new QueryPlans(shopSdl, { shared, planner: { generateQueryFragments: true } });
    const documents = new QueryPlans(shopSdl, { shared, planner: { exposeDocumentNodeInFetchNode: true } });
    expect(fragments.plannerVersion).not.toBe(plain.plannerVersion);
    expect(documents.plannerVersion).toBe(plain.plannerVersion);
  });
});

describe('override labels of a supergraph', () => {
  it('lists percentages and custom labels apart', () => {
    expect(overrideLabelsOf(overriddenSupergraph())).toEqual({
      percent: [{ label: 'percent(5)', percent: 5 }],
      custom: ['beta'],
    });
    expect(overrideLabelsOf(shopSdl)).toEqual({ percent: [{ label: 'percent(0)', percent: 0 }], custom: [] });
  });
});
