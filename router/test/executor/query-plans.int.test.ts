import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isCluster, RedisCache } from '../../../platform/src/cache/redis.ts';
import { testLogger } from '../../../test/support/shop-graph.ts';
import { until } from '../../../test/support/until.ts';
import { QueryPlans, type PlanOrigin, type QueryPlansObserver } from '../../src/executor/plans/index.ts';
import { loadTrustedDocuments, operationsOf } from '../../src/plugins/trusted-documents/index.ts';
import { plannedDocumentsOf } from '../../src/executor/defer/operation.ts';

/**
 * Query plans shared through a real Redis, as router instances share them.
 * Each supergraph here is the shop's with a comment of its own, so its hash,
 * and its keys, are new on every run, and other files' entries and earlier
 * runs' cannot answer for it.
 */

const redisUrl = inject('redisUrl');
const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const shopSdl = await readFile(root('schema/supergraph.graphql'), 'utf8');
const operations = operationsOf(await loadTrustedDocuments(root('operations/__generated__/persisted-documents.json')));
/** Plans the operations need: two for one with @defer (answered whole, and in parts). */
const plansNeeded = operations.reduce(
  (count, { document }) => count + plannedDocumentsOf(typeof document === 'string' ? parse(document) : document).length,
  0,
);
const connections: RedisCache[] = [];

afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
});

async function connect(url = redisUrl): Promise<RedisCache> {
  if (!url) throw new Error('needs redis-server on PATH (.ci/run installs it)');
  const redis = new RedisCache({ url, logger: testLogger('redis') });
  connections.push(redis);
  if (url === redisUrl) await until(() => redis.connected, { what: 'redis connected' });
  return redis;
}

const freshSupergraph = () => `${shopSdl}\n# ${randomUUID()}\n`;

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

/** Every entry under one supergraph's prefix, key and value. */
async function entriesOf(redis: RedisCache, plans: QueryPlans): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  const connection = redis.connection;
  // A scan covers one server: this file's Redis is one.
  if (isCluster(connection)) throw new Error('entriesOf scans one Redis server, not a cluster');
  for await (const keys of connection.scanIterator({ MATCH: `qp:${plans.graphHash}:*`, COUNT: 1000 })) {
    for (const key of keys) entries.set(key, (await connection.get(key))!);
  }
  return entries;
}

describe('query plans shared through Redis', () => {
  it('gives a second instance every plan the first warmed, without planning', async () => {
    const sdl = freshSupergraph();
    const first = new QueryPlans(sdl, { shared: await connect() });
    expect(await first.warm(operations)).toMatchObject({ planned: plansNeeded, shared: 0, failed: 0 });

    const count = counting();
    const second = new QueryPlans(sdl, { shared: await connect(), observer: count.observer });
    expect(await second.warm(operations)).toMatchObject({ planned: 0, shared: plansNeeded, failed: 0 });
    expect(count.planned).toBe(0);
    expect(count.served).toEqual(Array.from({ length: plansNeeded }, () => 'shared'));

    // Read back, the plans are the ones the first instance made.
    for (const { document, operationName } of operations.slice(0, 3)) {
      const parsed = typeof document === 'string' ? parse(document) : document;
      const request = { document: parsed, operationName, overrideLabels: new Set<string>() };
      expect(await second.planFor(request)).toEqual(await first.planFor(request));
    }
  });

  it("keeps another supergraph's plans apart: neither read nor overwritten nor deleted", async () => {
    const redis = await connect();
    const first = new QueryPlans(freshSupergraph(), { shared: redis });
    await first.warm(operations);
    const before = await entriesOf(redis, first);
    expect(before.size).toBe(plansNeeded);

    const count = counting();
    const other = new QueryPlans(freshSupergraph(), { shared: await connect(), observer: count.observer });
    expect(other.graphHash).not.toBe(first.graphHash);
    expect(await other.warm(operations)).toMatchObject({ planned: plansNeeded, shared: 0 });
    expect(count.planned).toBe(plansNeeded);
    expect(await entriesOf(redis, other)).toHaveProperty('size', plansNeeded);
    expect(await entriesOf(redis, first)).toEqual(before);
  });

  it('serves plans while Redis is unreachable, and after the connection is gone', async () => {
    // Nothing listens on port 1: every command is a miss, at once.
    const down = new QueryPlans(freshSupergraph(), { shared: await connect('redis://127.0.0.1:1') });
    expect(await down.warm(operations)).toMatchObject({ planned: plansNeeded, failed: 0 });

    const redis = await connect();
    const count = counting();
    const plans = new QueryPlans(freshSupergraph(), { shared: redis, observer: count.observer });
    await plans.warm(operations.slice(0, 2));
    // Closed here, so not again after the tests: a second close throws.
    connections.splice(connections.indexOf(redis), 1);
    await redis.close();
    const categories = {
      document: parse('{ categories { id } }'),
      operationName: null,
      overrideLabels: new Set<string>(),
    };
    expect(await plans.planFor(categories)).toHaveProperty('kind', 'QueryPlan');
    expect(count.served.at(-1)).toBe('planned');
    expect(await plans.warm(operations)).toMatchObject({ memory: 2, planned: plansNeeded - 2, failed: 0 });
  });
});
