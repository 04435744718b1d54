import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser } from '../seed/world.ts';
import { postPersisted } from './support/persisted-queries.ts';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';
import { persistedDocumentsPath, shippedOperations } from './support/shipped-operations.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/**
 * The operations the shop frontend ships (`operations/`), run through the
 * router by hash alone from the generated manifest, with trusted documents
 * enforced: the manifest loads, and every operation is valid and answers.
 * (shippedOperations() refuses a manifest, report and variables that
 * disagree about which operations exist.)
 */

const manifestPath = persistedDocumentsPath;
const operations = shippedOperations();

let graph: ShopGraph;

beforeAll(async () => {
  graph = await startShopGraph('operations', { trustedDocuments: { mode: 'enforce', manifestPath } });
});

afterAll(async () => {
  await graph?.stop();
});

describe('the shipped client operations', () => {
  it.each(operations)(
    '$name runs by its hash alone, with no errors and the cache policy the operations report states',
    async ({ hash, variables, signedIn, report: { cache } }) => {
      const response = await postPersisted(graph.router.url, {
        hash,
        variables,
        headers: signedIn ? { authorization: `Bearer ${await signTestToken(testJwtSecret, seedUser(0).id)}` } : {},
      });
      expect(response.status).toBe(200);
      expect(response.body.errors).toBeUndefined();
      expect(Object.values(response.body.data ?? {})[0]).toBeTruthy();

      // The report works the policy out statically from the subgraphs' hints; the router from their answers.
      expect(response.headers.get('cache-control')).toBe(
        cache ? `max-age=${cache.maxAge}, ${cache.scope.toLowerCase()}` : 'no-store',
      );
    },
  );
});
