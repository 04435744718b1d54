import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  seedCategories,
  seedOrder,
  seedProduct,
  seedReviews,
  seedStockLevel,
  seedUser,
  worldSizes,
  type SeedProduct,
} from '../seed/world.ts';
import { estimateShipping } from '../subgraphs/inventory/src/shipping.ts';
import { graphql } from './__generated__/gql.ts';
import type { CatalogWalkQuery, ProductOrder } from './__generated__/graphql.ts';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/** The federated graph through the router, checked against the seed world it was built from. */

const world = worldSizes.small;
const products = Array.from({ length: world.products }, (_, index) => seedProduct(index));
const reviews = [...seedReviews(world)];
const orders = Array.from({ length: world.orders }, (_, index) => seedOrder(index, world));

let graph: ShopGraph;

beforeAll(async () => {
  graph = await startShopGraph('shop_graph');
});

afterAll(async () => {
  await graph?.stop();
});

/** The data of an operation that must succeed, typed by its generated document. */
async function data<TData, TVariables>(
  operation: TypedDocumentNode<TData, TVariables>,
  variables?: TVariables,
  headers?: Record<string, string>,
): Promise<TData> {
  const response = await graph.query(operation, variables, headers);
  expect(response.body.errors).toBeUndefined();
  expect(response.status).toBe(200);
  return response.body.data!;
}

describe('a product across four subgraphs', () => {
  const product = products[0]!;
  const productReviews = reviews.filter((review) => review.productId === product.id);
  const query = graphql(`
    query ProductAcrossSubgraphs($id: ID, $sku: String) {
      product(id: $id, sku: $sku) {
        id
        sku
        name
        price {
          centAmount
          currencyCode
        }
        weightGrams
        category {
          slug
        }
        quantity
        inStock
        shippingEstimate {
          centAmount
          currencyCode
        }
        averageRating
        reviewCount
        reviews(first: 100) {
          totalCount
          edges {
            node {
              id
              rating
              author {
                id
                username
                name
              }
              product {
                id
              }
            }
          }
        }
      }
    }
  `);

  it('is found by id and by sku, with the same data', async () => {
    const byId = await data(query, { id: product.id });
    const bySku = await data(query, { sku: product.sku });
    expect(bySku).toEqual(byId);
  });

  it('joins catalog, stock, shipping, ratings and authors correctly', async () => {
    const found = (await data(query, { id: product.id })).product!;
    const stock = seedStockLevel(0).quantity;
    const mean = productReviews.reduce((sum, review) => sum + review.rating, 0) / productReviews.length;
    expect(found).toMatchObject({
      id: product.id,
      sku: product.sku,
      name: product.name,
      price: { centAmount: product.priceCents, currencyCode: 'USD' },
      category: { slug: seedCategories[0]!.slug },
      quantity: stock,
      inStock: stock > 0,
      shippingEstimate: { centAmount: estimateShipping(product.priceCents, product.weightGrams), currencyCode: 'USD' },
      reviewCount: productReviews.length,
      averageRating: Math.round(mean * 100) / 100,
    });
    expect(found.reviews!.totalCount).toBe(productReviews.length);
    expect(found.reviews!.edges.map((edge) => edge.node.id).sort()).toEqual(
      productReviews.map((review) => review.id).sort(),
    );
    const first = found.reviews!.edges[0]!.node;
    const review = reviews.find((candidate) => candidate.id === first.id)!;
    expect(first.author).toMatchObject({ id: review.authorId, username: review.authorUsername });
    expect(first.author!.name).toMatch(/\w+ \w+/);
    expect(first.product!.id).toBe(product.id);
  });

  it('are found by a list of ids, in the order asked, with null for an unknown id', async () => {
    const unknown = randomUUID();
    const wanted = [products[2]!, products[0]!, products[2]!];
    const { productsById } = await data(
      graphql(`
        query ProductsByIds($ids: [ID!]!) {
          productsById(ids: $ids) {
            id
            name
            quantity
            price {
              centAmount
            }
          }
        }
      `),
      { ids: [wanted[0]!.id, unknown, wanted[1]!.id, wanted[2]!.id.toUpperCase()] },
    );
    expect(productsById).toEqual([
      expect.objectContaining({ id: wanted[0]!.id, name: wanted[0]!.name }),
      null,
      expect.objectContaining({ id: wanted[1]!.id, name: wanted[1]!.name }),
      expect.objectContaining({ id: wanted[2]!.id, quantity: expect.any(Number) }),
    ]);
  });

  it('resolves an unknown id to null without an error', async () => {
    expect(
      await data(
        graphql(`
          query UnknownIds($id: ID!) {
            product(id: $id) {
              name
            }
            user(id: $id) {
              name
            }
            review(id: $id) {
              body
            }
          }
        `),
        { id: randomUUID() },
      ),
    ).toEqual({
      product: null,
      user: null,
      review: null,
    });
  });
});

describe('catalog pagination', () => {
  const comparators: Record<string, (a: SeedProduct, b: SeedProduct) => number> = {
    NEWEST: (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1),
    PRICE_ASC: (a, b) => a.priceCents - b.priceCents || (a.id < b.id ? -1 : 1),
    PRICE_DESC: (a, b) => b.priceCents - a.priceCents || (a.id < b.id ? 1 : -1),
    // Postgres compares text by the database collation; these names are plain ASCII words.
    NAME_ASC: (a, b) => (a.name === b.name ? (a.id < b.id ? -1 : 1) : a.name < b.name ? -1 : 1),
  };

  it.each(Object.keys(comparators))('walks every page of %s in order, without gaps or repeats', async (orderBy) => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { products: page }: CatalogWalkQuery = await data(
        graphql(`
          query CatalogWalk($after: String, $orderBy: ProductOrder) {
            products(first: 7, after: $after, orderBy: $orderBy) {
              totalCount
              pageInfo {
                hasNextPage
                hasPreviousPage
                endCursor
              }
              edges {
                cursor
                node {
                  id
                }
              }
            }
          }
        `),
        { after, orderBy: orderBy as ProductOrder },
      );
      pages++;
      expect(page.totalCount).toBe(world.products);
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      seen.push(...page.edges.map((edge) => edge.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
      expect(pages).toBeLessThan(100);
    }
    expect(pages).toBe(Math.ceil(world.products / 7));
    expect(seen).toEqual([...products].sort(comparators[orderBy]).map((product) => product.id));
  });

  it('filters by category, price range and text, with a matching totalCount', async () => {
    const filter = { category: 'audio', minPrice: 5_000, maxPrice: 60_000, search: 'o' };
    const expected = products.filter(
      (product) =>
        product.categoryId === seedCategories.find((category) => category.slug === 'audio')!.id &&
        product.priceCents >= filter.minPrice &&
        product.priceCents <= filter.maxPrice &&
        (product.name.toLowerCase().includes('o') || product.description.toLowerCase().includes('o')),
    );
    expect(expected.length).toBeGreaterThan(1);
    const { products: page } = await data(
      graphql(`
        query CatalogFiltered($filter: ProductFilter) {
          products(first: 100, filter: $filter) {
            totalCount
            edges {
              node {
                id
              }
            }
          }
        }
      `),
      { filter },
    );
    expect(page.totalCount).toBe(expected.length);
    expect(page.edges.map((edge) => edge.node.id).sort()).toEqual(expected.map((product) => product.id).sort());
  });

  it('treats LIKE wildcards in search as text', async () => {
    const { products: page } = await data(
      graphql(`
        query SearchWildcard {
          products(filter: { search: "%" }) {
            totalCount
          }
        }
      `),
    );
    expect(page.totalCount).toBe(0);
  });

  it('answers first: 0 with no edges and the total', async () => {
    const { products: page } = await data(
      graphql(`
        query EmptyPage {
          products(first: 0) {
            totalCount
            edges {
              cursor
            }
            pageInfo {
              hasNextPage
              endCursor
            }
          }
        }
      `),
    );
    expect(page).toEqual({ totalCount: world.products, edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
  });
});

describe("a user's reviews and orders", () => {
  it('match what the seed wrote, across accounts, reviews, orders and products', async () => {
    const user = seedUser(3);
    const theirReviews = reviews.filter((review) => review.authorId === user.id);
    const theirOrders = orders.filter((order) => order.userId === user.id);
    const found = (
      await data(
        graphql(`
          query UserAcrossSubgraphs($id: ID!) {
            user(id: $id) {
              username
              reviews(first: 100) {
                totalCount
              }
              orders(first: 100) {
                totalCount
                edges {
                  node {
                    id
                    total {
                      centAmount
                    }
                    items {
                      quantity
                      unitPrice {
                        centAmount
                      }
                      subtotal {
                        centAmount
                      }
                      product {
                        id
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        `),
        { id: user.id },
        // Orders are their owner's alone.
        { authorization: `Bearer ${await signTestToken(testJwtSecret, user.id)}` },
      )
    ).user!;
    expect(found.username).toBe(user.username);
    expect(found.reviews!.totalCount).toBe(theirReviews.length);
    expect(found.orders!.totalCount).toBe(theirOrders.length);
    for (const { node } of found.orders!.edges) {
      const order = theirOrders.find((candidate) => candidate.id === node.id)!;
      expect(node.total.centAmount).toBe(
        order.items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0),
      );
      expect(node.items.map((item) => item.product!.id)).toEqual(order.items.map((item) => item.productId));
      for (const item of node.items) {
        expect(item.subtotal.centAmount).toBe(item.unitPrice.centAmount * item.quantity);
        expect(item.product!.name).toBe(products.find((product) => product.id === item.product!.id)!.name);
      }
    }
  });
});

describe('bad arguments get BAD_USER_INPUT with a message that says what is wrong', () => {
  const cursorOfPriceOrder = async () =>
    (
      await data(
        graphql(`
          query FirstByPrice {
            products(first: 1, orderBy: PRICE_ASC) {
              pageInfo {
                endCursor
              }
            }
          }
        `),
      )
    ).products.pageInfo.endCursor!;

  it.each([
    {
      case: 'first above the cap',
      query: `{ products(first: 101) { totalCount } }`,
      message: /`first` must be between 0 and 100, got 101/,
    },
    {
      case: 'negative first',
      query: `{ products(first: -1) { totalCount } }`,
      message: /`first` must be between 0 and 100, got -1/,
    },
    {
      case: 'malformed cursor',
      query: `{ products(after: "bm90IGEgY3Vyc29y") { totalCount } }`,
      message: /`after` is not a cursor of this list/,
    },
    {
      case: 'non-base64 cursor',
      query: `{ products(after: "%%%") { totalCount } }`,
      message: /`after` is not a cursor of this list/,
    },
    {
      case: 'negative price filter',
      query: `{ products(filter: { minPrice: -1 }) { totalCount } }`,
      message: /`filter.minPrice` must be zero or more/,
    },
    {
      case: 'inverted price range',
      query: `{ products(filter: { minPrice: 500, maxPrice: 100 }) { totalCount } }`,
      message: /greater than `filter.maxPrice`/,
    },
    {
      case: 'oversized search',
      query: `{ products(filter: { search: "${'x'.repeat(101)}" }) { totalCount } }`,
      message: /at most 100 characters/,
    },
    {
      case: 'both id and sku',
      query: `{ product(id: "${products[0]!.id}", sku: "X") { name } }`,
      message: /exactly one of `id` or `sku`/,
    },
    { case: 'neither id nor sku', query: `{ product { name } }`, message: /exactly one of `id` or `sku`/ },
    { case: 'malformed id', query: `{ user(id: "42") { name } }`, message: /`id` must be a UUID/ },
    {
      case: 'malformed id in a list',
      query: `{ productsById(ids: ["${products[0]!.id}", "nope"]) { name } }`,
      message: /`ids` must be a UUID, got "nope"/,
    },
    {
      case: 'too many ids',
      query: `{ productsById(ids: ${JSON.stringify(Array.from({ length: 101 }, () => randomUUID()))}) { name } }`,
      message: /`ids` holds at most 100 ids, got 101/,
    },
  ])('$case', async ({ query, message }) => {
    const response = await graph.query(query);
    expect(response.status).toBe(200);
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors![0]).toMatchObject({
      message: expect.stringMatching(message),
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('rejects a cursor from another ordering', async () => {
    const cursor = await cursorOfPriceOrder();
    const response = await graph.query(
      `query ($after: String) { products(after: $after, orderBy: NEWEST) { totalCount } }`,
      { after: cursor },
    );
    expect(response.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', argumentName: 'after' } });
  });

  it('rejects an out-of-range argument of a nested connection', async () => {
    const response = await graph.query(
      `{ products(first: 2) { edges { node { name reviews(first: 500) { totalCount } } } } }`,
    );
    expect(response.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    // `reviews` is nullable: the products still arrive, without the list that was asked for wrongly.
    expect(response.body.data).toEqual({
      products: {
        edges: [
          { node: { name: expect.any(String), reviews: null } },
          { node: { name: expect.any(String), reviews: null } },
        ],
      },
    });
  });
});
