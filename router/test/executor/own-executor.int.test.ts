import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser } from '../../../seed/world.ts';
import type { RunningRouter } from '../../src/router.ts';
import { shippedOperations, type ShippedOperation } from '../../../test/support/shipped-operations.ts';
import { postGraphQL, startShopGraph, startTestRouter, type ShopGraph } from '../../../test/support/shop-graph.ts';
import { signTestToken, testJwtSecret } from '../../../test/support/tokens.ts';

/**
 * The router's own executor against the stock one, through the whole
 * router over the real shop graph: two routers on the same subgraphs, one
 * per executor, asked the operations the frontend ships. Queries must give
 * the same answer and the same cache policy; mutations, which change what
 * they touch and so run once, must succeed.
 */

const operations = shippedOperations();

let graph: ShopGraph;
let own: RunningRouter;

beforeAll(async () => {
  graph = await startShopGraph('own_executor', { executor: 'stock' });
  own = await startTestRouter(graph.supergraphPath, { executor: 'own' });
});

afterAll(async () => {
  await own?.stop();
  await graph?.stop();
});

async function headersFor({ signedIn }: ShippedOperation): Promise<Record<string, string>> {
  return signedIn ? { authorization: `Bearer ${await signTestToken(testJwtSecret, seedUser(0).id)}` } : {};
}

describe('ROUTER_EXECUTOR=own', () => {
  it.each(operations.filter(({ kind }) => kind === 'query'))(
    '$name answers as the stock executor does',
    async (operation) => {
      const { document, variables } = operation;
      const headers = await headersFor(operation);
      const stock = await graph.query(document, variables, headers);
      const ours = await postGraphQL(own.url, document, variables, headers);
      expect(stock.body.errors).toBeUndefined();
      expect(ours.status).toBe(200);
      expect(ours.body).toEqual(stock.body);
      expect(ours.headers.get('cache-control')).toBe(stock.headers.get('cache-control'));
    },
  );

  it.each(operations.filter(({ kind }) => kind === 'mutation'))('$name succeeds', async (operation) => {
    const ours = await postGraphQL(own.url, operation.document, operation.variables, await headersFor(operation));
    expect(ours.body.errors).toBeUndefined();
    expect(Object.values(ours.body.data ?? {})[0]).toBeTruthy();
    expect(ours.headers.get('cache-control')).toBe('no-store');
  });
});
