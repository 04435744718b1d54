import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationReport } from '../platform/src/composition/operations-report.ts';
import { seedUser } from '../seed/world.ts';
import { postPersisted } from './support/persisted-queries.ts';
import { signedInOperations, variablesByOperation } from './support/shipped-operations.ts';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/**
 * The operations the shop frontend ships (`operations/`), run through the
 * router by hash alone from the generated manifest, with trusted documents
 * enforced: the manifest loads, and every operation is valid and answers.
 */

const manifestPath = 'operations/__generated__/persisted-documents.json';
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, string>;
const report = JSON.parse(readFileSync('schema/operations.json', 'utf8')) as OperationReport[];

let graph: ShopGraph;

beforeAll(async () => {
  graph = await startShopGraph('operations', { trustedDocuments: { mode: 'enforce', manifestPath } });
});

afterAll(async () => {
  await graph?.stop();
});

describe('the shipped client operations', () => {
  const operations = Object.entries(manifest).map(([id, document]) => ({
    id: id.replace(/^sha256:/, ''),
    name: /(?:query|mutation)\s+(\w+)/.exec(document)![1]!,
  }));

  it('cover every operation the frontend uses', () => {
    expect(operations.map(({ name }) => name).sort()).toEqual(Object.keys(variablesByOperation).sort());
  });

  it.each(operations)(
    '$name runs by its hash alone, with no errors and the cache policy the operations report states',
    async ({ id, name }) => {
      const response = await postPersisted(graph.router.url, {
        hash: id,
        variables: variablesByOperation[name],
        headers: signedInOperations.has(name)
          ? { authorization: `Bearer ${await signTestToken(testJwtSecret, seedUser(0).id)}` }
          : {},
      });
      expect(response.status).toBe(200);
      expect(response.body.errors).toBeUndefined();
      expect(Object.values(response.body.data ?? {})[0]).toBeTruthy();

      // The report works the policy out statically from the subgraphs' hints; the router from their answers.
      const { cache } = report.find((entry) => entry.name === name)!;
      expect(response.headers.get('cache-control')).toBe(
        cache ? `max-age=${cache.maxAge}, ${cache.scope.toLowerCase()}` : 'no-store',
      );
    },
  );

  it('are all in the operations report', () => {
    expect(report.map(({ name }) => name).sort()).toEqual(Object.keys(variablesByOperation).sort());
  });
});
