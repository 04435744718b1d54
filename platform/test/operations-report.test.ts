import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { composeSupergraph } from '../src/composition/compose.ts';
import { defaultListSize, reportOperations, type OperationReport } from '../src/composition/operations-report.ts';
import { localRoutingUrl, schemaFileOf, subgraphs } from '../../subgraphs/registry.ts';

/** The per-operation report on the shop's real schemas, and on edits a pull request might make. */

const current = subgraphs.map(({ name, port }) => ({
  name,
  url: localRoutingUrl(port),
  sdl: readFileSync(schemaFileOf(name), 'utf8'),
}));

function report(documents: Record<string, string>, edits: Record<string, (sdl: string) => string> = {}) {
  const sources = current.map((source) => ({ ...source, sdl: edits[source.name]?.(source.sdl) ?? source.sdl }));
  const composed = composeSupergraph(sources);
  if (!composed.ok) throw new Error(composed.errors.join('\n'));
  return reportOperations({
    supergraphSdl: composed.supergraphSdl,
    subgraphs: sources,
    documents: Object.entries(documents).map(([source, text]) => ({ source, document: parse(text) })),
  });
}

function only(reports: OperationReport[]): OperationReport {
  expect(reports).toHaveLength(1);
  return reports[0]!;
}

function replaceOnce(from: string, to: string) {
  return (sdl: string) => {
    expect(sdl).toContain(from);
    return sdl.replace(from, to);
  };
}

const categories = { 'categories.graphql': 'query Categories { categories { id slug name } }' };

describe('operations report', () => {
  it('gives the plan, cost and cache policy of a one-subgraph query', () => {
    expect(only(report(categories))).toEqual({
      name: 'Categories',
      kind: 'query',
      source: 'categories.graphql',
      subgraphs: ['products'],
      fetches: 1,
      sequentialFetches: 1,
      cost: defaultListSize,
      cache: { maxAge: 3600, scope: 'PUBLIC' },
      deprecated: [],
    });
  });

  it('shows a change that makes a public query private', () => {
    const edited = report(categories, {
      products: replaceOnce('  slug: String!', '  slug: String! @cacheControl(scope: PRIVATE)'),
    });
    expect(only(edited).cache).toEqual({ maxAge: 3600, scope: 'PRIVATE' });
  });

  it('takes the shortest max-age of every subgraph the plan fetches from, entity fetches included', () => {
    const product = only(
      report({
        'product.graphql': `query Product($id: ID!) {
          product(id: $id) { name quantity reviews(first: 3) { edges { node { rating author { name } } } } }
        }`,
      }),
    );
    expect(product.subgraphs).toEqual(['accounts', 'inventory', 'products', 'reviews']);
    // products → (inventory ‖ reviews) → accounts: the author waits on the reviews.
    expect(product.fetches).toBe(4);
    expect(product.sequentialFetches).toBe(3);
    expect(product.cache).toEqual({ maxAge: 10, scope: 'PUBLIC' });
  });

  it('reports a query the subgraph gives no hint as never cached', () => {
    const edited = report(categories, {
      products: replaceOnce('type Category @cacheControl(maxAge: 3600) {', 'type Category {'),
    });
    expect(only(edited).cache).toBeNull();
  });

  it("sizes lists by the subgraphs' @listSize: first as given, the variable's default, the schema's default", () => {
    const cost = (text: string) => only(report({ 'q.graphql': text })).cost;
    // products 1, then 5 edges, each with its node and the node's price.
    expect(cost('query A { products(first: 5) { edges { node { price { centAmount } } } } }')).toBe(1 + 5 * 3);
    expect(cost('query B($n: Int = 7) { products(first: $n) { edges { node { id } } } }')).toBe(1 + 7 * 2);
    // A variable without a default, or no argument at all: the schema's default (20) applies.
    expect(cost('query C($n: Int) { products(first: $n) { edges { node { id } } } }')).toBe(1 + 20 * 2);
    expect(cost('query G { products { edges { node { id } } } }')).toBe(1 + 20 * 2);
    // No @listSize on categories: the default size.
    expect(cost('query D { categories { id } }')).toBe(defaultListSize);
    // An assumed size declared by the subgraph (at most 100 ids).
    expect(cost('query H { productsById(ids: ["1"]) { id } }')).toBe(100);
    // totalCount runs a count of its own: @cost(weight: 1), although a scalar.
    expect(cost('query I { products(first: 1) { totalCount } }')).toBe(2);
    // Fragments count like the fields they hold.
    expect(
      cost('query E { products(first: 2) { edges { node { ...F } } } } fragment F on Product { category { id } }'),
    ).toBe(1 + 2 * 3);
  });

  it('reports the cost the router limits, declared in a subgraph and composed', () => {
    const cost = (edits: Record<string, (sdl: string) => string>) =>
      only(report({ 'q.graphql': 'query D { categories { id } }' }, edits)).cost;
    expect(
      cost({
        products: replaceOnce('  categories: [Category!]!', '  categories: [Category!]! @listSize(assumedSize: 40)'),
      }),
    ).toBe(40);
    expect(
      cost({
        products: replaceOnce(
          'type Category @cacheControl(maxAge: 3600) {',
          'type Category @cost(weight: 3) @cacheControl(maxAge: 3600) {',
        ),
      }),
    ).toBe(3 * defaultListSize);
  });

  it('lists deprecated fields and arguments in use, with the reason', () => {
    const edited = report(
      { 'q.graphql': 'query Q { products(first: 1) { edges { node { sku name } } } }' },
      {
        products: (sdl) =>
          replaceOnce(
            '  sku: String!',
            '  sku: String! @deprecated(reason: "Use id.")',
          )(
            replaceOnce(
              'products(first: Int = 20,',
              'products(first: Int = 20 @deprecated(reason: "Use limit."),',
            )(sdl),
          ),
      },
    );
    expect(only(edited).deprecated).toEqual([
      { path: 'Query.products(first)', reason: 'Use limit.' },
      { path: 'Product.sku', reason: 'Use id.' },
    ]);
  });

  it('reports mutations, which no cache stores', () => {
    const [update] = report({
      'm.graphql': `mutation UpdatePrice { updateProductPrice(productId: "1", price: { centAmount: 1, currencyCode: "USD" }) { product { name } } }`,
    });
    expect(update).toMatchObject({ kind: 'mutation', subgraphs: ['products'], fetches: 1, cache: null });
  });
});
