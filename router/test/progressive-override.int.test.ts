import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedProduct } from '../../seed/world.ts';
import { scrape } from '../../test/support/metrics.ts';
import { startShopGraph, type ShopGraph } from '../../test/support/shop-graph.ts';
import { ratedProductQuery } from './support/moving-ratings.ts';

/**
 * A field moving between two subgraphs of the real shop graph, through the
 * router's own executor: `Product.averageRating` and `reviewCount` are
 * served by reviews and overridden by products behind `percent(0)`
 * (subgraphs/products/schema.graphql). Which subgraph answered is read
 * from the router's per-subgraph fetch counts; the answer must not change
 * with the owner, since products keeps a read model of reviews' ratings.
 */

const labelsHeader = 'x-override-labels';
/** A product no earlier request asked for: a repeated request would be a response-cache hit, fetching nothing. */
let nextProduct = 0;
const freshProduct = () => seedProduct(nextProduct++);
const rated = ratedProductQuery;

let graph: ShopGraph;

beforeAll(async () => {
  graph = await startShopGraph('progressive_override', {
    executor: 'own',
    progressiveOverride: { enabled: true, header: labelsHeader },
  });
});

afterAll(async () => {
  await graph?.stop();
});

const fetchesTo = async (subgraph: string) =>
  (await scrape(graph.router)).sum('router_subgraph_fetch_duration_seconds_count', { subgraph });

/** Runs the query and tells which subgraphs it fetched from. */
async function ratedWith(headers: Record<string, string> = {}, product = freshProduct()) {
  const before = { products: await fetchesTo('products'), reviews: await fetchesTo('reviews') };
  const response = await graph.query(rated, { id: product.id }, headers);
  expect(response.body.errors).toBeUndefined();
  return {
    data: response.body.data,
    fetched: {
      products: (await fetchesTo('products')) - before.products,
      reviews: (await fetchesTo('reviews')) - before.reviews,
    },
  };
}

describe('moving Product.averageRating from reviews to products', () => {
  it('stays with reviews while the label is at 0% and nobody asks for it', async () => {
    for (let request = 0; request < 5; request++) {
      const { fetched } = await ratedWith();
      expect(fetched).toEqual({ products: 1, reviews: 1 });
    }
  });

  it('is served by products alone for a request that turns the label on, with the same answer', async () => {
    const product = freshProduct();
    const fromReviews = await ratedWith({}, product);
    const fromProducts = await ratedWith({ [labelsHeader]: 'percent(0)' }, product);
    expect(fromProducts.fetched).toEqual({ products: 1, reviews: 0 });
    expect(fromProducts.data).toEqual(fromReviews.data);
    expect(fromProducts.data).toMatchObject({ product: { averageRating: expect.any(Number) } });
  });

  it('moves every request once the label is ramped to 100% and the supergraph reloaded', async () => {
    const sdl = await readFile(graph.supergraphPath, 'utf8');
    expect(sdl).toContain('overrideLabel: "percent(0)"');
    await writeFile(
      graph.supergraphPath,
      sdl.replaceAll('overrideLabel: "percent(0)"', 'overrideLabel: "percent(100)"'),
    );
    try {
      expect(await graph.router.reload()).toMatchObject({ status: 'reloaded' });
      for (let request = 0; request < 5; request++) {
        const { fetched } = await ratedWith();
        expect(fetched).toEqual({ products: 1, reviews: 0 });
      }
    } finally {
      await writeFile(graph.supergraphPath, sdl);
      await graph.router.reload();
    }
  });
});
