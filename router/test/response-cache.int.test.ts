import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedProduct, seedUser } from '../../seed/world.ts';
import { adminSdl, startAdminSubgraph } from '../../test/support/admin-subgraph.ts';
import { composeFor, startSubgraphs, startTestRouter, type StartedSubgraphs } from '../../test/support/shop-graph.ts';
import type { TestSubgraph } from '../../test/support/test-subgraph.ts';
import { signTestToken } from '../../test/support/tokens.ts';
import { until } from '../../test/support/until.ts';
import type { RunningRouter } from '../src/router.ts';

/**
 * The whole-response cache on the shop graph, in memory: what is stored,
 * for whom, for how long, and what removes it. Data is changed behind the
 * router's back, in the subgraphs' databases, so a stale answer proves a
 * hit and a fresh one proves a miss.
 */

const secret = 'response-cache-test-secret-of-enough-length';
const purgeToken = 'purge-token-for-the-response-cache-test';

let shop: StartedSubgraphs;
let admin: TestSubgraph;
let router: RunningRouter;
let workdir: string;
const tokens: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

beforeAll(async () => {
  shop = await startSubgraphs('response_cache');
  admin = await startAdminSubgraph(shop.byName.products);
  workdir = await mkdtemp(join(tmpdir(), 'response-cache-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeFor({ ...shop.byName, admin }, { admin: adminSdl }));
  router = await startTestRouter(supergraphPath, {
    authentication: { keys: { kind: 'secret', secret } },
    responseCache: { enabled: true, purgeToken },
  });
  tokens.alice = await signTestToken(secret, seedUser(0).id);
  tokens.bob = await signTestToken(secret, seedUser(1).id);
});

afterAll(async () => {
  await router?.stop();
  await Promise.allSettled([shop?.stop(), admin?.stop()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

async function post(query: string, variables: Record<string, unknown> = {}, as?: 'alice' | 'bob') {
  const response = await fetch(router.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(as ? { authorization: `Bearer ${tokens[as]}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    cache: response.headers.get('x-cache'),
    cacheControl: response.headers.get('cache-control'),
    age: response.headers.get('age'),
    contentLength: response.headers.get('content-length'),
    text: await response.clone().text(),
    body: (await response.json()) as any,
  };
}

async function purge(body: unknown, token = purgeToken) {
  const response = await fetch(router.url.replace(/\/graphql$/, '/cache/purge'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function renameInDatabase(id: string, name: string) {
  await shop.byName.products.database.db.execute(sql`update products set name = ${name} where id = ${id}`);
}

const productQuery = /* GraphQL */ `
  query Product($id: ID!) {
    product(id: $id) {
      id
      name
      price {
        centAmount
      }
    }
  }
`;

describe('public data', () => {
  it('is stored with the combined policy and served again, byte for byte, with Age', async () => {
    const product = seedProduct(3);
    const first = await post(productQuery, { id: product.id });
    expect(first.body.errors).toBeUndefined();
    expect(first.cache).toBe('MISS');
    expect(first.cacheControl).toBe('max-age=300, public');

    await renameInDatabase(product.id, 'Renamed behind the cache');
    const second = await post(productQuery, { id: product.id });
    expect(second.cache).toBe('HIT');
    expect(second.text).toBe(first.text);
    // The miss is written as the bytes it stored: both carry the body's exact length.
    expect(Number(first.contentLength)).toBe(Buffer.byteLength(first.text));
    expect(second.contentLength).toBe(first.contentLength);
    expect(second.cacheControl).toBe('max-age=300, public');
    expect(Number(second.age)).toBeGreaterThanOrEqual(0);

    // Other variables are another entry.
    const other = await post(productQuery, { id: seedProduct(4).id });
    expect(other.cache).toBe('MISS');
    expect(other.body.data.product.id).toBe(seedProduct(4).id);
  });

  it('takes the shortest lifetime of every subgraph involved', async () => {
    const response = await post(/* GraphQL */ `
      query {
        products(first: 3) {
          edges {
            node {
              name
              quantity
            }
          }
        }
      }
    `);
    expect(response.body.errors).toBeUndefined();
    // products: 120 s for the list, inventory: 10 s for stock.
    expect(response.cacheControl).toBe('max-age=10, public');
  });
});

describe('private data', () => {
  const viewerQuery = /* GraphQL */ `
    query Me {
      viewer {
        id
        email
      }
    }
  `;
  const alice = seedUser(0);
  const setEmail = (userId: string, email: string) =>
    shop.byName.accounts.database.db.execute(sql`update users set email = ${email} where id = ${userId}`);

  it('is never stored for an anonymous caller, who is refused it', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await post(viewerQuery);
      expect(response.body.data.viewer).toBeNull();
      expect(response.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(response.cache).toBe('MISS');
      expect(response.cacheControl).toBe('no-store');
    }
  });

  it("is stored per verified user, and one user never gets another's entry", async () => {
    await setEmail(alice.id, 'before@example.com');
    const first = await post(viewerQuery, {}, 'alice');
    expect(first.cache).toBe('MISS');
    expect(first.body.data.viewer).toEqual({ id: alice.id, email: 'before@example.com' });

    await setEmail(alice.id, 'after@example.com');
    const again = await post(viewerQuery, {}, 'alice');
    expect(again.cache).toBe('HIT');
    expect(again.body.data.viewer.email).toBe('before@example.com');
    expect(again.cacheControl).toBe('max-age=60, private');

    // The same document and variables, another user: their own answer, never Alice's entry.
    const bob = await post(viewerQuery, {}, 'bob');
    expect(bob.cache).toBe('MISS');
    expect(bob.body.data.viewer).toEqual({ id: seedUser(1).id, email: seedUser(1).email });
  });
});

describe('what is never stored', () => {
  it('a response with errors', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await post('query { products(first: 1000) { totalCount } }');
      expect(response.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(response.cache).toBe('MISS');
      expect(response.cacheControl).toBe('no-store');
    }
  });

  it('a token that does not verify gets 401, not a cached answer', async () => {
    const product = seedProduct(3);
    const response = await fetch(router.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer not.a.token' },
      body: JSON.stringify({ query: productQuery, variables: { id: product.id } }),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('invalidation', () => {
  it('a mutation purges every cached response showing the entity it returns, with or without its id', async () => {
    const product = seedProduct(7);
    const byIdWithoutId = /* GraphQL */ `
      query ($sku: String) {
        product(sku: $sku) {
          name
        }
      }
    `;
    await post(productQuery, { id: product.id });
    await post(byIdWithoutId, { sku: product.sku });
    expect((await post(productQuery, { id: product.id })).cache).toBe('HIT');
    expect((await post(byIdWithoutId, { sku: product.sku })).cache).toBe('HIT');

    const mutation = await post(
      'mutation ($id: ID!) { renameProduct(id: $id, name: "Renamed by a mutation") { id } }',
      { id: product.id },
    );
    expect(mutation.body.errors).toBeUndefined();

    const byId = await post(productQuery, { id: product.id });
    expect(byId.cache).toBe('MISS');
    expect(byId.body.data.product.name).toBe('Renamed by a mutation');
    const bySku = await post(byIdWithoutId, { sku: product.sku });
    expect(bySku.cache).toBe('MISS');
    expect(bySku.body.data.product.name).toBe('Renamed by a mutation');
  });

  it('the purge endpoint removes by entity, by type and everything, and only with the token', async () => {
    const product = seedProduct(9);
    await post(productQuery, { id: product.id });
    await renameInDatabase(product.id, 'Purged by entity');
    expect((await post(productQuery, { id: product.id })).cache).toBe('HIT');

    expect((await purge({ entities: [{ type: 'Product', id: product.id }] }, 'wrong-token')).status).toBe(401);
    expect((await post(productQuery, { id: product.id })).cache).toBe('HIT');

    const byEntity = await purge({ entities: [{ type: 'Product', id: product.id }] });
    expect(byEntity.status).toBe(200);
    expect(byEntity.body.purged).toBeGreaterThanOrEqual(1);
    const fresh = await post(productQuery, { id: product.id });
    expect(fresh.cache).toBe('MISS');
    expect(fresh.body.data.product.name).toBe('Purged by entity');

    // Kept again once the refill delay after the purge is over (store.ts).
    await until(async () => (await post(productQuery, { id: product.id })).cache === 'HIT', {
      what: 'the product cached again after the purge',
    });
    expect((await purge({ types: ['Product'] })).body.purged).toBeGreaterThanOrEqual(1);
    expect((await post(productQuery, { id: product.id })).cache).toBe('MISS');

    expect((await purge({ all: true })).body.purged).toBeGreaterThanOrEqual(1);
    expect((await post(productQuery, { id: product.id })).cache).toBe('MISS');
  });

  it.each([
    { case: 'an empty request', body: {} },
    { case: 'an unknown field', body: { everything: true } },
    { case: 'an entity without an id', body: { entities: [{ type: 'Product' }] } },
    { case: 'not an object', body: ['Product'] },
  ])('the purge endpoint refuses $case with a coded 400', async ({ body }) => {
    const response = await purge(body);
    expect(response.status).toBe(400);
    expect(response.body.errors[0].extensions.code).toBe('BAD_REQUEST');
  });
});
