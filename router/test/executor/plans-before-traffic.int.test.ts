import { parse } from 'graphql';
import { appendFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedUser } from '../../../seed/world.ts';
import type { RunningRouter } from '../../src/router.ts';
import { scrape } from '../../../test/support/metrics.ts';
import { postPersisted } from '../../../test/support/persisted-queries.ts';
import { persistedDocumentsPath, shippedOperations } from '../../../test/support/shipped-operations.ts';
import { startShopGraph, startTestRouter, type ShopGraph } from '../../../test/support/shop-graph.ts';
import { signTestToken, testJwtSecret } from '../../../test/support/tokens.ts';
import { plannedDocumentsOf } from '../../src/executor/defer/operation.ts';

/**
 * Plans before traffic, through the whole router on the real shop graph:
 * every trusted operation is planned while a supergraph version is built,
 * so its first request after start, and after a reload, finds its plan.
 * The router's `router_query_plans_total{source}` counts where each plan
 * came from; `planned` is the query planner running.
 */

const redisUrl = inject('redisUrl');
const operations = shippedOperations();
/** Plans the trusted operations need: two for one with @defer (answered whole, and in parts). */
const plansNeeded = operations.reduce((count, { document }) => count + plannedDocumentsOf(parse(document)).length, 0);

let graph: ShopGraph;
let second: RunningRouter | undefined;

beforeAll(async () => {
  if (!redisUrl) throw new Error('needs redis-server on PATH (.ci/run installs it)');
  graph = await startShopGraph('plans_before_traffic', {
    executor: 'own',
    redisUrl,
    trustedDocuments: { mode: 'enforce', manifestPath: persistedDocumentsPath },
  });
});

afterAll(async () => {
  await second?.stop();
  await graph?.stop();
});

const plans = async (router: RunningRouter, source: 'planned' | 'shared' | 'memory') =>
  (await scrape(router)).sum('router_query_plans_total', { source });

/** Each shipped operation once, by its trusted id alone, as the frontend sends them. */
async function sendEveryOperation(router: RunningRouter): Promise<void> {
  const authorization = `Bearer ${await signTestToken(testJwtSecret, seedUser(0).id)}`;
  for (const { name, hash, variables, signedIn } of operations) {
    const response = await postPersisted(router.url, {
      hash,
      variables,
      headers: signedIn ? { authorization } : {},
    });
    expect(response.status, name).toBe(200);
    // A mutation sent a second time may be refused by the domain (the order is cancelled already); it still ran.
    expect(response.body.data, name).toBeDefined();
  }
}

describe('plans before traffic', () => {
  it('plans every trusted operation before the router is ready, and none on their first requests', async () => {
    const { router } = graph;
    const warmUp = router.planWarmUp();
    expect(warmUp).toMatchObject({ operations: operations.length, failed: 0 });
    // This supergraph is new to the fleet: the first instance plans each operation itself.
    expect(warmUp!.planned).toBe(plansNeeded);
    expect(await plans(router, 'planned')).toBe(plansNeeded);

    await sendEveryOperation(router);

    expect(await plans(router, 'planned')).toBe(plansNeeded);
    expect(await plans(router, 'memory')).toBeGreaterThanOrEqual(operations.length);
  });

  it('plans them again for a reloaded supergraph before it serves, and none on the first requests after', async () => {
    const { router } = graph;
    const plannedBefore = await plans(router, 'planned');
    await appendFile(graph.supergraphPath, '\n# reloaded\n');
    expect(await router.reload()).toMatchObject({ status: 'reloaded' });
    expect(router.planWarmUp()).toMatchObject({ planned: plansNeeded, failed: 0 });
    expect(await plans(router, 'planned')).toBe(plannedBefore + plansNeeded);

    await sendEveryOperation(router);

    expect(await plans(router, 'planned')).toBe(plannedBefore + plansNeeded);
  });

  it("gives a new instance the fleet's plans from Redis: it plans nothing", async () => {
    second = await startTestRouter(graph.supergraphPath, {
      executor: 'own',
      redisUrl,
      trustedDocuments: { mode: 'enforce', manifestPath: persistedDocumentsPath },
    });
    expect(second.planWarmUp()).toMatchObject({ shared: plansNeeded, planned: 0, failed: 0 });

    await sendEveryOperation(second);

    expect(await plans(second, 'planned')).toBe(0);
  });
});
