import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedId, seedOrder, worldSizes } from '../seed/world.ts';
import { subgraphs, type SubgraphName } from '../subgraphs/registry.ts';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/**
 * DataLoader batching, proven at the driver: every list operation runs at
 * two list sizes, and the SQL statements each subgraph executes must be the
 * same for both. A per-item query anywhere (an N+1) makes the larger size
 * cost more statements and fails the test.
 */

let graph: ShopGraph;

beforeAll(async () => {
  graph = await startShopGraph('sql_count');
});

afterAll(async () => {
  await graph?.stop();
});

async function statementsPerSubgraph(
  query: string,
  variables: Record<string, unknown>,
  as: { id: string; scopes: string[] } | undefined,
) {
  const before = Object.fromEntries(
    subgraphs.map(({ name }) => [name, graph.subgraphs[name].database.statementCount()]),
  );
  const headers = as ? { authorization: `Bearer ${await signTestToken(testJwtSecret, as.id, as.scopes)}` } : undefined;
  const response = await graph.query(query, variables, headers);
  expect(response.body.errors).toBeUndefined();
  const counts = Object.fromEntries(
    subgraphs.map(({ name }) => [name, graph.subgraphs[name].database.statementCount() - before[name]!]),
  ) as Record<SubgraphName, number>;
  return { counts, data: response.body.data, size: JSON.stringify(response.body.data).length };
}

/** The user with the most orders in the small seed, so their order list can be long. */
function busiestCustomer(): { id: string; orders: number } {
  const perUser = new Map<string, number>();
  for (let index = 0; index < worldSizes.small.orders; index++) {
    const { userId } = seedOrder(index, worldSizes.small);
    perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
  }
  const [id, orders] = [...perUser].sort((a, b) => b[1] - a[1])[0]!;
  return { id, orders };
}

const operations: Array<{
  name: string;
  query: string;
  sizes: [number, number];
  variables?: () => Record<string, unknown>;
  /** The signed-in caller, when the data is not public. */
  as?: { id: string; scopes: string[] };
}> = [
  {
    name: 'catalog page: products with stock, shipping, ratings and reviews with authors',
    sizes: [2, 25],
    query: /* GraphQL */ `
      query Catalog($n: Int!) {
        products(first: $n) {
          totalCount
          edges {
            node {
              id
              name
              price {
                centAmount
              }
              category {
                name
              }
              quantity
              inStock
              shippingEstimate {
                centAmount
              }
              averageRating
              reviewCount
              reviews(first: 3) {
                totalCount
                edges {
                  node {
                    rating
                    author {
                      username
                      name
                    }
                    product {
                      sku
                    }
                  }
                }
              }
            }
          }
        }
      }
    `,
  },
  {
    name: 'users with their reviews and the reviewed products',
    // Listing every account needs the admin scope.
    as: { id: seedId('user', 0), scopes: ['admin'] },
    sizes: [5, 25],
    query: /* GraphQL */ `
      query Customers($n: Int!) {
        users(first: $n) {
          edges {
            node {
              username
              reviews(first: 2) {
                totalCount
                edges {
                  node {
                    rating
                    product {
                      name
                    }
                  }
                }
              }
            }
          }
        }
      }
    `,
  },
  {
    name: "a product's reviews with authors",
    sizes: [2, 30],
    variables: () => ({ id: seedId('product', 0) }),
    query: /* GraphQL */ `
      query ProductReviews($id: ID!, $n: Int!) {
        product(id: $id) {
          name
          reviews(first: $n) {
            totalCount
            edges {
              node {
                body
                rating
                author {
                  name
                  username
                  reviews(first: 1) {
                    totalCount
                  }
                }
              }
            }
          }
        }
      }
    `,
  },
  {
    name: "a user's order history with products",
    sizes: [1, busiestCustomer().orders],
    // Orders are their owner's alone.
    as: { id: busiestCustomer().id, scopes: [] },
    query: /* GraphQL */ `
      query OrderHistory($n: Int!) {
        viewer {
          name
          orders(first: $n) {
            edges {
              node {
                total {
                  centAmount
                }
                items {
                  quantity
                  product {
                    name
                    sku
                    price {
                      centAmount
                    }
                    inStock
                  }
                }
              }
            }
          }
        }
      }
    `,
  },
];

describe('SQL statements per subgraph do not grow with list size', () => {
  it.each(operations)('$name', async ({ query, sizes: [small, large], variables, as }) => {
    expect(large).toBeGreaterThan(small);
    const few = await statementsPerSubgraph(query, { ...variables?.(), n: small }, as);
    const many = await statementsPerSubgraph(query, { ...variables?.(), n: large }, as);

    // The larger page really returned more data, so equal counts mean batching, not an empty list.
    expect(many.size).toBeGreaterThan(few.size * 1.5);
    // The router merges parallel fetches to one subgraph when they start in
    // the same tick, which depends on timing, and a merge saves at most one
    // statement; N+1 loading would add one per row instead.
    expect(Object.keys(many.counts).sort()).toEqual(Object.keys(few.counts).sort());
    for (const [subgraph, count] of Object.entries(many.counts))
      expect(Math.abs(count - (few.counts as Record<string, number>)[subgraph]!), subgraph).toBeLessThanOrEqual(1);
    // And the operation did reach the database: zero everywhere would prove nothing.
    expect(Object.values(many.counts).reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
    console.log(`statements per subgraph at first=${small} and first=${large}: ${JSON.stringify(many.counts)}`);
  });
});

describe('a statement runs once per time it is asked for', () => {
  // `categories` returns drizzle's query builder as it is: a thenable that runs again on every `.then`.
  it('even when a resolver returns a query builder unawaited', async () => {
    const { counts, data } = await statementsPerSubgraph('{ categories { name } }', {}, undefined);
    expect((data as { categories: unknown[] }).categories.length).toBeGreaterThan(0);
    expect(counts.products).toBe(1);
  });
});
