import { asc, eq, gt } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../platform/src/db/database.ts';
import { createEventBus, type EventBus } from '../../../platform/src/events/index.ts';
import { createIdentitySigner, identityHeader } from '../../../platform/src/identity.ts';
import type { RunningSubgraph } from '../../../platform/src/subgraph/server.ts';
import { seedProduct, seedReviews, seedUser, worldSizes } from '../../../seed/world.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/databases.ts';
import { postGraphQL, startTestSubgraph, testLogger } from '../../../test/support/shop-graph.ts';
import { testIdentitySecret } from '../../../test/support/tokens.ts';
import { until } from '../../../test/support/until.ts';
import { loadSubgraph } from '../../registry.ts';
import * as reviewTables from '../../reviews/src/db/schema.ts';
import * as tables from '../src/db/schema.ts';
import { applyProductRatingChanged } from '../src/ratings.ts';
import { productRatingChanged } from '../../reviews/src/events.ts';

/**
 * The products subgraph's rating read model, on real Postgres, beside the
 * reviews subgraph on the in-process bus: it starts from the seed as
 * reviews' projection does, follows ProductRatingChanged when a review is
 * added, is filled again from scratch by reviews republishing its ratings,
 * and never goes back to an older rating. `Product.averageRating` and
 * `reviewCount` then answer the same from either subgraph, which is what
 * lets the router move them between the two with `@override`.
 */

const world = worldSizes.small;

let bus: EventBus;
const databases: TestDatabase[] = [];
let products: RunningSubgraph;
let reviews: RunningSubgraph;

beforeAll(async () => {
  bus = createEventBus({ redis: null, logger: testLogger('bus') });
  const start = async (name: 'products' | 'reviews') => {
    const database = await createTestDatabase(`ratings_${name}`);
    databases.push(database);
    return startTestSubgraph(name, database.target, 'small', bus, testLogger(name));
  };
  products = await start('products');
  reviews = await start('reviews');
});

afterAll(async () => {
  await products?.stop();
  await reviews?.stop();
  await bus?.close();
  for (const database of databases) await database.drop();
});

const productsDb = () => products.database.db as unknown as Database<typeof tables>;
const reviewsDb = () => reviews.database.db as unknown as Database<typeof reviewTables>;

interface Rating {
  averageRating: number | null;
  reviewCount: number | null;
}

/** Every product's rating as a subgraph answers `_entities`, as the router would ask it. */
async function ratingsFrom(subgraph: RunningSubgraph, ids: readonly string[]): Promise<Rating[]> {
  const response = await postGraphQL<{ _entities: Rating[] }, { representations: unknown[] }>(
    subgraph.url,
    /* GraphQL */ `
      query ($representations: [_Any!]!) {
        _entities(representations: $representations) {
          ... on Product {
            averageRating
            reviewCount
          }
        }
      }
    `,
    { representations: ids.map((id) => ({ __typename: 'Product', id })) },
  );
  expect(response.body.errors).toBeUndefined();
  return response.body.data!._entities;
}

const catalog = Array.from({ length: world.products }, (_, index) => seedProduct(index).id);

async function subgraphsAgree(ids: readonly string[] = catalog): Promise<boolean> {
  const [fromProducts, fromReviews] = await Promise.all([ratingsFrom(products, ids), ratingsFrom(reviews, ids)]);
  return JSON.stringify(fromProducts) === JSON.stringify(fromReviews);
}

describe('the rating read model', () => {
  it('starts from the seed, agreeing with reviews on every product', async () => {
    expect(await subgraphsAgree()).toBe(true);
    const rated = await productsDb()
      .select()
      .from(tables.productRatings)
      .where(gt(tables.productRatings.reviewCount, 0));
    expect(rated.length).toBeGreaterThan(0);
  });

  it('follows a review added in the reviews subgraph', async () => {
    const reviewed = new Set([...seedReviews(world)].map(({ authorId, productId }) => `${authorId}/${productId}`));
    const author = seedUser(5).id;
    const productId = catalog.find((id) => !reviewed.has(`${author}/${id}`))!;
    const [before] = await ratingsFrom(products, [productId]);
    const signer = await createIdentitySigner(testIdentitySecret);
    const added = await postGraphQL<unknown, { input: unknown }>(
      reviews.url,
      /* GraphQL */ `
        mutation ($input: AddReviewInput!) {
          addReview(input: $input) {
            review {
              id
            }
          }
        }
      `,
      { input: { productId, rating: 1, body: 'Broke on the first day.' } },
      { [identityHeader]: await signer.sign({ id: author, scopes: [] }) },
    );
    expect(added.body.errors).toBeUndefined();
    await until(async () => (await ratingsFrom(products, [productId]))[0]!.reviewCount === before!.reviewCount! + 1, {
      timeoutMs: 20_000,
      what: 'the new review counted in products',
    });
    expect(await subgraphsAgree([productId])).toBe(true);
  });

  it('is filled again from nothing when reviews republishes its ratings', async () => {
    await productsDb().delete(tables.productRatings);
    expect(await subgraphsAgree()).toBe(false);
    const definition = await loadSubgraph('reviews');
    // One event per product of the projection: the seed gives every catalog product a row.
    expect(await definition.events!.republish!(reviews.database.db)).toBe(world.products);
    await until(() => subgraphsAgree(), { timeoutMs: 20_000, what: 'the read model refilled' });
  });

  it('keeps the newest rating: an older or repeated one changes nothing', async () => {
    const [row] = await productsDb()
      .select()
      .from(tables.productRatings)
      .where(gt(tables.productRatings.reviewCount, 1))
      .orderBy(asc(tables.productRatings.productId))
      .limit(1);
    const { productId, reviewCount, averageRating } = row!;
    const stale = productRatingChanged.create(productId, { productId, reviewCount: reviewCount - 1, averageRating: 5 });
    expect(await applyProductRatingChanged(productsDb(), stale)).toBe(true);
    const same = productRatingChanged.create(productId, { productId, reviewCount, averageRating: 1 });
    expect(await applyProductRatingChanged(productsDb(), same)).toBe(true);
    // The same event again is skipped by the inbox.
    expect(await applyProductRatingChanged(productsDb(), same)).toBe(false);
    const [after] = await productsDb()
      .select()
      .from(tables.productRatings)
      .where(eq(tables.productRatings.productId, productId));
    expect(after).toMatchObject({ reviewCount, averageRating });
    // The projection in reviews is untouched by any of this.
    const [source] = await reviewsDb()
      .select()
      .from(reviewTables.productRatings)
      .where(eq(reviewTables.productRatings.productId, productId));
    expect(source!.reviewCount).toBe(reviewCount);
  });
});
