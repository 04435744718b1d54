import { ApolloClient, HttpLink, InMemoryCache, NetworkStatus, gql, type ObservableQuery } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';

/**
 * `@defer` as Apollo Client 4 receives it: the real client over real HTTP
 * against the router, with the reviews subgraph behind a delaying proxy.
 * The client speaks the 2022-08-24 incremental format (its
 * Defer20220824Handler asks for `multipart/mixed;deferSpec=20220824`);
 * with reviews slow, the product arrives first and the reviews later, and
 * the client's final result equals the non-deferred query's. With no delay
 * the router may answer in one part or several; either way the client ends
 * with the same result.
 */

const postgresAdminUrl = inject('postgresAdminUrl') ?? undefined;

const productFields = `
  id
  sku
  name
  description
  price { centAmount currencyCode }
  inStock
`;
const reviewFields = `
  averageRating
  reviewCount
  reviews(first: 5) { totalCount edges { node { id rating body author { id username } } } }
`;

const deferredQuery = gql`
  query ProductPageDeferred($id: ID) {
    product(id: $id) {
      ${productFields}
      ... @defer(label: "reviews") {
        ${reviewFields}
      }
    }
  }
`;
const wholeQuery = gql`
  query ProductPage($id: ID) {
    product(id: $id) {
      ${productFields}
      ${reviewFields}
    }
  }
`;

interface Product {
  id: string;
  name: string;
  averageRating?: number | null;
  reviewCount?: number | null;
  reviews?: { totalCount: number; edges: Array<{ node: Record<string, unknown> }> };
}
interface ProductPage {
  product: Product | null;
}

/** What the client's fetch sent and got back, per request. */
interface Exchange {
  accept: string | null;
  contentType: string | null;
}

/**
 * A fresh client (nothing cached between queries) on HttpLink over Node's
 * global fetch, recording each request's `accept` and the answer's `content-type`.
 */
function newClient(url: string, exchanges: Exchange[]) {
  return new ApolloClient({
    cache: new InMemoryCache(),
    incrementalHandler: new Defer20220824Handler(),
    link: new HttpLink({
      uri: url,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        exchanges.push({
          accept: new Headers(init?.headers).get('accept'),
          contentType: response.headers.get('content-type'),
        });
        return response;
      },
    }),
  });
}

type Emission = ObservableQuery.Result<ProductPage>;

/** Every result the watched query emits, in order, up to its first complete (or failed) one. */
function watchUntilSettled(client: ApolloClient, id: string): Promise<Emission[]> {
  return new Promise((resolve, reject) => {
    const emissions: Emission[] = [];
    const subscription = client
      .watchQuery<ProductPage>({ query: deferredQuery, variables: { id }, fetchPolicy: 'no-cache' })
      .subscribe({
        next(result) {
          emissions.push(result);
          if (result.error) {
            subscription.unsubscribe();
            reject(new Error(`the deferred query failed: ${result.error.message}`, { cause: result.error }));
          } else if (!result.loading && result.dataState === 'complete') {
            subscription.unsubscribe();
            resolve(emissions);
          }
        },
        error: reject,
      });
  });
}

/** The same selection without @defer, through a fresh Apollo Client. */
async function wholeProductPage(url: string, id: string): Promise<ProductPage> {
  const exchanges: Exchange[] = [];
  const client = newClient(url, exchanges);
  try {
    const result = await client.query<ProductPage>({ query: wholeQuery, variables: { id }, fetchPolicy: 'no-cache' });
    expect(result.error).toBeUndefined();
    expect(exchanges[0]?.contentType).not.toMatch(/^multipart\//);
    return result.data!;
  } finally {
    client.stop();
  }
}

const hasReviewFields = (product: object) =>
  'averageRating' in product || 'reviewCount' in product || 'reviews' in product;

describe('@defer through the router, received by Apollo Client', () => {
  let graph: ShopGraph;
  let productId: string;

  beforeAll(async () => {
    // No response cache: every request runs its plan, so each deferred
    // answer is shaped by the router there and then, not replayed.
    graph = await startShopGraph(
      'defer_apollo_client',
      { responseCache: { enabled: false } },
      { postgresAdminUrl, delays: { reviews: 0 } },
    );
    // A product with reviews, so the deferred part carries something to compare.
    const products = await graph.query<{
      products: { edges: Array<{ node: { id: string; reviewCount: number | null } }> };
    }>(`{ products(first: 50) { edges { node { id reviewCount } } } }`);
    expect(products.body.errors).toBeUndefined();
    const reviewed = products.body.data!.products.edges.find(({ node }) => (node.reviewCount ?? 0) > 0);
    expect(reviewed, 'a seeded product with reviews').toBeDefined();
    productId = reviewed!.node.id;
  });
  afterAll(() => graph?.stop());

  it('with the reviews subgraph delayed, the product arrives first and the reviews later, ending equal to the non-deferred result', async () => {
    graph.proxies.reviews!.delayMs = 300;
    const exchanges: Exchange[] = [];
    const client = newClient(graph.router.url, exchanges);
    let emissions: Emission[];
    try {
      emissions = await watchUntilSettled(client, productId);
    } finally {
      client.stop();
    }

    // The client asked for the 2022-08-24 format and got a multipart answer.
    expect(exchanges).toHaveLength(1);
    expect(exchanges[0]!.accept).toMatch(/^multipart\/mixed;\s*deferSpec=20220824/);
    expect(exchanges[0]!.contentType).toMatch(/^multipart\/mixed/);
    expect(exchanges[0]!.contentType).toMatch(/deferSpec=20220824/);

    // The product first, streaming, without the deferred fields ...
    const firstWithData = emissions.findIndex((emission) => emission.data?.product != null);
    expect(firstWithData, JSON.stringify(emissions)).toBeGreaterThanOrEqual(0);
    const early = emissions[firstWithData]!;
    expect(early.dataState).toBe('streaming');
    expect(early.networkStatus).toBe(NetworkStatus.streaming);
    const earlyProduct = early.data!.product!;
    expect(earlyProduct).toMatchObject({ id: productId, name: expect.any(String) });
    expect(hasReviewFields(earlyProduct), JSON.stringify(earlyProduct)).toBe(false);

    // ... then, later, the reviews, complete.
    const last = emissions.at(-1)!;
    expect(emissions.indexOf(last)).toBeGreaterThan(firstWithData);
    expect(last.dataState).toBe('complete');
    expect(last.loading).toBe(false);
    expect(last.networkStatus).toBe(NetworkStatus.ready);
    expect(last.error).toBeUndefined();
    const finalProduct = last.data!.product!;
    expect(hasReviewFields(finalProduct)).toBe(true);
    expect(finalProduct).toMatchObject({ name: earlyProduct.name });
    // Nothing between: once the reviews are there, the result is complete.
    for (const emission of emissions.slice(0, -1)) expect(emission.dataState).not.toBe('complete');

    const whole = await wholeProductPage(graph.router.url, productId);
    expect(whole.product?.reviews?.edges.length).toBeGreaterThan(0);
    expect(last.data).toEqual(whole);
  });

  it('with no delay, the deferred query still ends equal to the non-deferred result', async () => {
    graph.proxies.reviews!.delayMs = 0;
    const exchanges: Exchange[] = [];
    const client = newClient(graph.router.url, exchanges);
    let emissions: Emission[];
    try {
      emissions = await watchUntilSettled(client, productId);
    } finally {
      client.stop();
    }
    expect(exchanges).toHaveLength(1);
    expect(exchanges[0]!.accept).toMatch(/^multipart\/mixed;\s*deferSpec=20220824/);

    const last = emissions.at(-1)!;
    expect(last.dataState).toBe('complete');
    expect(last.error).toBeUndefined();
    // Whichever way the router answered (one part or several), no partial result claims to be complete.
    for (const emission of emissions.slice(0, -1)) expect(emission.dataState).not.toBe('complete');

    const whole = await wholeProductPage(graph.router.url, productId);
    expect(last.data).toEqual(whole);
  });
});
