import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseTarget } from '../platform/src/db/database.ts';
import type { RunningSubgraph } from '../platform/src/subgraph/server.ts';
import type { RunningRouter } from '../router/src/router.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { startReplica, type PostgresReplica } from './support/postgres-replica.ts';
import {
  composeFor,
  postGraphQL,
  startTestRouter,
  startTestSubgraph,
  testLogger,
  type GraphQLResponse,
} from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/**
 * Where the router's response cache meets the subgraphs' read replicas:
 * the products subgraph reads from a real streaming replica of its
 * database, whose replay the test pauses, behind a router that caches whole
 * responses. An admin's price change purges the product from the cache, but
 * an anonymous read right after it is served by the replica, which has not
 * replayed the change yet: the old price. For `refillDelayMs` after the
 * purge the router serves that answer without storing it, so once the
 * replica has caught up everyone reads the new price. A second router with
 * no refill delay, over the same subgraph, is the control: there the old
 * price is stored, and served from the cache after the replica has caught
 * up, which is what the delay exists to prevent.
 */

const typed = <TData, TVariables>(source: string) => parse(source) as TypedDocumentNode<TData, TVariables>;

interface ProductData {
  product: { id: string; price: { centAmount: number } } | null;
}
const productQuery = typed<ProductData, { id: string }>(`
  query Product($id: ID!) {
    product(id: $id) {
      id
      price {
        centAmount
      }
    }
  }
`);

const updatePrice = typed<
  { updateProductPrice: { product: { id: string; price: { centAmount: number } } } },
  { productId: string; price: { centAmount: number; currencyCode: string } }
>(`
  mutation UpdatePrice($productId: ID!, $price: MoneyInput!) {
    updateProductPrice(productId: $productId, price: $price) {
      product {
        id
        price {
          centAmount
        }
      }
    }
  }
`);

/**
 * Longer than this file takes on the slowest machine: the delay, and the
 * admin's read-your-writes window, must never end halfway through a test.
 */
const longMs = 600_000;

let replica: PostgresReplica;
let database: TestDatabase;
let products: RunningSubgraph;
let workdir: string;
/** Keeps responses carrying a purged tag out of the cache for `longMs` after the purge. */
let delayed: RunningRouter;
/** The control: stores them at once. */
let undelayed: RunningRouter;
let adminHeaders: Record<string, string>;

beforeAll(async () => {
  replica = await startReplica();
  database = await createTestDatabase('replica_cache_products');
  if (database.target.kind !== 'postgres') throw new Error(`expected a postgres target, got ${database.target.kind}`);
  const databaseName = new URL(database.target.url).pathname.slice(1);
  const withReplica: DatabaseTarget = {
    ...database.target,
    replicas: { urls: [replica.urlOf(databaseName)], readYourWritesWindowMs: longMs },
  };
  products = await startTestSubgraph('products', withReplica, 'small', null, testLogger('products'));
  // The migrated, seeded catalog on the replica too, before anything is paused.
  await replica.catchUp();

  workdir = await mkdtemp(join(tmpdir(), 'replica-cache-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeFor({ products }));
  delayed = await startTestRouter(supergraphPath, { responseCache: { enabled: true, refillDelayMs: longMs } });
  undelayed = await startTestRouter(supergraphPath, { responseCache: { enabled: true, refillDelayMs: 0 } });
  adminHeaders = { authorization: `Bearer ${await signTestToken(testJwtSecret, seedUser(2).id, ['admin'])}` };
});

afterAll(async () => {
  await Promise.allSettled([delayed, undelayed].map((router) => router?.stop()));
  await products?.stop();
  await replica?.remove();
  await database?.drop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

interface Read {
  cache: string | null;
  centAmount: number | undefined;
}

/** The product's price as `router` answers it, and whether that answer came from its cache. */
async function read(router: RunningRouter, id: string, headers: Record<string, string> = {}): Promise<Read> {
  const response: GraphQLResponse<ProductData> = await postGraphQL(router.url, productQuery, { id }, headers);
  expect(response.body.errors).toBeUndefined();
  return { cache: response.headers.get('x-cache'), centAmount: response.body.data?.product?.price.centAmount };
}

/** Caches the product's seeded price on `router`: a miss, then a hit. */
async function cache(router: RunningRouter, product: ReturnType<typeof seedProduct>): Promise<void> {
  expect(await read(router, product.id)).toEqual({ cache: 'MISS', centAmount: product.priceCents });
  expect(await read(router, product.id)).toEqual({ cache: 'HIT', centAmount: product.priceCents });
}

/** The admin's price change through `router`, whose response purges the product from its cache. */
async function changePrice(router: RunningRouter, productId: string, centAmount: number): Promise<void> {
  const response = await postGraphQL(
    router.url,
    updatePrice,
    { productId, price: { centAmount, currencyCode: 'USD' } },
    adminHeaders,
  );
  expect(response.body.errors).toBeUndefined();
  expect(response.body.data?.updateProductPrice.product.price.centAmount).toBe(centAmount);
}

describe('a price change while the replica lags', () => {
  it("is not undone in the cache by the replica's old answer, within the refill delay", async () => {
    const product = seedProduct(5);
    const newPrice = product.priceCents + 1_111;
    await cache(delayed, product);

    await replica.pauseReplay();
    await changePrice(delayed, product.id, newPrice);

    // Anyone else reads the replica's past, which is served but not kept.
    expect(await read(delayed, product.id)).toEqual({ cache: 'MISS', centAmount: product.priceCents });
    expect(await read(delayed, product.id)).toEqual({ cache: 'MISS', centAmount: product.priceCents });
    // The admin reads their own write at once, from the primary; nor is that kept, for anyone.
    expect(await read(delayed, product.id, adminHeaders)).toEqual({ cache: 'MISS', centAmount: newPrice });
    expect(await read(delayed, product.id)).toEqual({ cache: 'MISS', centAmount: product.priceCents });

    await replica.resumeReplay();
    await replica.catchUp();
    expect(await read(delayed, product.id)).toEqual({ cache: 'MISS', centAmount: newPrice });
  });

  it("without a refill delay, is undone: the old answer is stored and outlives the replica's lag (control)", async () => {
    const product = seedProduct(6);
    const newPrice = product.priceCents + 2_222;
    await cache(undelayed, product);

    await replica.pauseReplay();
    await changePrice(undelayed, product.id, newPrice);
    expect(await read(undelayed, product.id)).toEqual({ cache: 'MISS', centAmount: product.priceCents });

    await replica.resumeReplay();
    await replica.catchUp();
    // The replica has the new price, and the other router, which stored nothing of this product, shows it...
    expect(await read(delayed, product.id)).toEqual({ cache: 'MISS', centAmount: newPrice });
    // ...while this one serves the old price from its cache, for the entry's whole lifetime.
    expect(await read(undelayed, product.id)).toEqual({ cache: 'HIT', centAmount: product.priceCents });
  });
});
