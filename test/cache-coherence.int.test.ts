import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { Kind, parse } from 'graphql';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectRows } from '../platform/src/db/database.ts';
import { createEventBus, type EventBus } from '../platform/src/events/index.ts';
import { withStreamPrefix } from '../platform/src/events/stream-prefix.ts';
import { purgedStreams } from '../router/src/plugins/response-cache/event-purge.ts';
import type { RunningRouter } from '../router/src/router.ts';
import { seedCategories, seedProduct, seedUser } from '../seed/world.ts';
import {
  composeFor,
  startSubgraphs,
  startTestRouter,
  testLogger,
  type StartedSubgraphs,
} from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * Read-your-writes through the response cache, as a table: for every
 * mutation we ship, every shipped query that can show its effect. Two
 * routers share one Redis (the cache and the event streams), on real
 * Postgres and the real subgraphs. Each query is primed until both routers
 * answer it from the cache; the mutation goes through one router; then the
 * next read through each router must show the effect: at once, or, for an
 * effect that a later event brings (a reservation, a rating), as soon as
 * every event has been delivered and applied, with no fixed wait.
 */

const redisUrl = inject('redisUrl');

// ---------------------------------------------------------------------------
// The shipped operations, read from operations/ as clients send them.

const operationsFolder = new URL('../operations/', import.meta.url);
const shippedDocuments = new Map<string, string>();
const shippedMutations: string[] = [];
for (const entry of readdirSync(operationsFolder, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.graphql')) continue;
  const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
  for (const definition of parse(text).definitions)
    if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) {
      shippedDocuments.set(definition.name.value, text);
      if (definition.operation === 'mutation') shippedMutations.push(definition.name.value);
    }
}

/** Admin mutations ship in the schema, not in operations/. Neither selects the product's id, so only what the subgraph reports can purge. */
const adminDocuments: Record<string, string> = {
  UpdateProductPrice: /* GraphQL */ `
    mutation UpdateProductPrice($productId: ID!, $price: MoneyInput!) {
      updateProductPrice(productId: $productId, price: $price) {
        product {
          price {
            centAmount
          }
        }
      }
    }
  `,
  Restock: /* GraphQL */ `
    mutation Restock($productId: ID!, $quantity: Int!) {
      restock(productId: $productId, quantity: $quantity) {
        product {
          quantity
        }
      }
    }
  `,
};

type QueryName = 'OrderHistory' | 'ProductPage' | 'ProductReviews' | 'Cart' | 'CatalogPage';
type MutationName = 'PlaceOrder' | 'CancelOrder' | 'AddReview' | 'UpdateProfile' | 'UpdateProductPrice' | 'Restock';
type Caller = { kind: 'anonymous' } | { kind: 'shopper'; index: number } | { kind: 'admin' };

// ---------------------------------------------------------------------------
// The graph: subgraphs on one bus, two routers on the same Redis.

let shop: StartedSubgraphs;
let routers: Record<'A' | 'B', RunningRouter>;
let bus: EventBus;
let redis: ReturnType<typeof createClient>;
let workdir: string;
const prefix = `test-${randomUUID()}`;

beforeAll(async () => {
  if (!redisUrl) throw new Error('needs redis-server on PATH (.ci/run installs it)');
  redis = createClient({ url: redisUrl });
  await redis.connect();
  bus = withStreamPrefix(createEventBus({ redis, logger: testLogger('bus') }), prefix);
  shop = await startSubgraphs('cache_coherence', 'small', bus);
  workdir = await mkdtemp(join(tmpdir(), 'cache-coherence-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeFor(shop.byName));
  const settings = { redisUrl, eventStreamPrefix: prefix, responseCache: { enabled: true } };
  const [a, b] = await Promise.all([
    startTestRouter(supergraphPath, settings),
    startTestRouter(supergraphPath, settings),
  ]);
  routers = { A: a, B: b };
});

afterAll(async () => {
  await Promise.allSettled([routers?.A.stop(), routers?.B.stop()]);
  await shop?.stop();
  await bus?.close();
  await redis?.quit();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

const tokens = new Map<string, string>();
async function headersFor(caller: Caller): Promise<Record<string, string>> {
  if (caller.kind === 'anonymous') return {};
  const id = seedUser(caller.kind === 'admin' ? 0 : caller.index).id;
  const key = `${caller.kind}:${id}`;
  if (!tokens.has(key))
    tokens.set(key, await signTestToken(testJwtSecret, id, caller.kind === 'admin' ? ['admin'] : []));
  return { authorization: `Bearer ${tokens.get(key)}` };
}

interface Answer {
  cache: string | null;
  data: any;
}

async function send(
  router: 'A' | 'B',
  name: QueryName | MutationName,
  variables: Record<string, unknown>,
  caller: Caller,
): Promise<Answer> {
  const query = shippedDocuments.get(name) ?? adminDocuments[name];
  if (!query) throw new Error(`no shipped operation named ${name}`);
  const response = await fetch(routers[router].url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await headersFor(caller)) },
    body: JSON.stringify({ query, operationName: name, variables }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: unknown };
  expect(body.errors, `${name} through router ${router}`).toBeUndefined();
  expect(response.status).toBe(200);
  return { cache: response.headers.get('x-cache'), data: body.data };
}

/**
 * Every event written so far is published, delivered to every group and
 * applied, including the router's purges, twice in a row: nothing is in an
 * outbox, nor waiting or in flight on any stream.
 */
async function settled(): Promise<void> {
  const quietOnce = async () => {
    for (const subgraph of Object.values(shop.byName)) {
      const [row] = await selectRows<{ count: number }>(
        subgraph.database.db,
        sql`select count(*)::int as count from outbox where published_at is null`,
      );
      if (row!.count > 0) return false;
    }
    for (const stream of purgedStreams) {
      const groups = await redis.xInfoGroups(`${prefix}:${stream}`).catch(() => []);
      if (groups.some((group) => Number(group.pending) > 0 || Number(group.lag ?? 1) > 0)) return false;
    }
    return true;
  };
  let quietPasses = 0;
  await until(async () => ((await quietOnce()) ? ++quietPasses >= 2 : ((quietPasses = 0), false)), {
    timeoutMs: 120_000,
    what: 'every event delivered and applied',
  });
}

// ---------------------------------------------------------------------------
// The matrix.

/** What a row's steps share: ids the setup and the mutation learn. */
type World = Record<string, any>;

interface Read {
  query: QueryName;
  as: Caller;
  variables(world: World): Record<string, unknown>;
  /** What the effect looks like in this query's data. */
  effect: string;
  shows(data: any, world: World): boolean;
  /** `at once`: the next read after the mutation's response; otherwise the event that brings it. */
  arrives: 'at once' | `with ${string}`;
}

interface Row {
  mutation: MutationName;
  as: Caller;
  /** The router the mutation goes through; reads go through both. */
  via: 'A' | 'B';
  setup(world: World): Promise<void>;
  variables(world: World): Record<string, unknown>;
  /** Keeps what the effect is checked against (the new order's id, say). */
  after?(data: any, world: World): void;
  reads: Read[];
}

const anonymous: Caller = { kind: 'anonymous' };
const admin: Caller = { kind: 'admin' };
const shopper = (index: number): Caller => ({ kind: 'shopper', index });

// Each row works on products and shoppers of its own, so rows never purge each other's entries.
const products = { order: 101, cancel: 102, review: 103, profile: 104, price: 105, restock: 106 };
const shoppers = { order: 31, cancel: 32, review: 33, profile: 34 };

const productPage =
  (index: number): Read['variables'] =>
  () => ({ id: seedProduct(index).id });
const cart =
  (index: number): Read['variables'] =>
  () => ({ productIds: [seedProduct(index).id] });
const categoryOf = (index: number) =>
  seedCategories.find((candidate) => candidate.id === seedProduct(index).categoryId)!.slug;
const catalogPage = (index: number) => () => ({
  first: 24,
  filter: { category: categoryOf(index), search: seedProduct(index).name },
});
const catalogCard = (data: any, index: number) =>
  data.products.edges.map((edge: any) => edge.node).find((node: any) => node.id === seedProduct(index).id);
const orderIn = (data: any, id: string | undefined) =>
  data.viewer.orders.edges.map((edge: any) => edge.node).find((node: any) => node.id === id);
const reviewsOf = (data: any) => data.product.reviews.edges.map((edge: any) => edge.node);

const matrix: Row[] = [
  {
    mutation: 'PlaceOrder',
    as: shopper(shoppers.order),
    via: 'B',
    setup: async (world) => {
      await setStock(products.order, 3);
      world.items = [{ productId: seedProduct(products.order).id, quantity: 3 }];
    },
    variables: (world) => ({ items: world.items, idempotencyKey: randomUUID() }),
    after: (data, world) => (world.orderId = data.placeOrder.order.id),
    reads: [
      {
        query: 'OrderHistory',
        as: shopper(shoppers.order),
        variables: () => ({}),
        effect: 'the new order is in the list',
        shows: (data, world) => orderIn(data, world.orderId) !== undefined,
        arrives: 'at once',
      },
      {
        query: 'OrderHistory',
        as: shopper(shoppers.order),
        variables: () => ({}),
        effect: 'the order is confirmed',
        shows: (data, world) => orderIn(data, world.orderId)?.status === 'CONFIRMED',
        arrives: 'with StockReserved, OrderConfirmed',
      },
      {
        query: 'ProductPage',
        as: anonymous,
        variables: productPage(products.order),
        effect: 'the stock is taken',
        shows: (data) => data.product.quantity === 0 && data.product.inStock === false,
        arrives: 'with StockReserved',
      },
      {
        query: 'Cart',
        as: shopper(shoppers.order),
        variables: cart(products.order),
        effect: 'the stock is taken',
        shows: (data) => data.productsById[0].quantity === 0,
        arrives: 'with StockReserved',
      },
      {
        query: 'CatalogPage',
        as: anonymous,
        variables: catalogPage(products.order),
        effect: 'the card says out of stock',
        shows: (data) => catalogCard(data, products.order)?.inStock === false,
        arrives: 'with StockReserved',
      },
    ],
  },
  {
    mutation: 'CancelOrder',
    as: shopper(shoppers.cancel),
    via: 'A',
    setup: async (world) => {
      await setStock(products.cancel, 2);
      const placed = await send(
        'A',
        'PlaceOrder',
        { items: [{ productId: seedProduct(products.cancel).id, quantity: 2 }], idempotencyKey: randomUUID() },
        shopper(shoppers.cancel),
      );
      world.orderId = placed.data.placeOrder.order.id;
      await settled();
    },
    variables: (world) => ({ id: world.orderId }),
    reads: [
      {
        query: 'OrderHistory',
        as: shopper(shoppers.cancel),
        variables: () => ({}),
        effect: 'the order is cancelled',
        shows: (data, world) => orderIn(data, world.orderId)?.status === 'CANCELLED',
        arrives: 'at once',
      },
      {
        query: 'ProductPage',
        as: anonymous,
        variables: productPage(products.cancel),
        effect: 'the stock is back',
        shows: (data) => data.product.quantity === 2,
        arrives: 'with StockReleased',
      },
      {
        query: 'Cart',
        as: anonymous,
        variables: cart(products.cancel),
        effect: 'the stock is back',
        shows: (data) => data.productsById[0].quantity === 2,
        arrives: 'with StockReleased',
      },
      {
        query: 'CatalogPage',
        as: anonymous,
        variables: catalogPage(products.cancel),
        effect: 'the card says in stock',
        shows: (data) => catalogCard(data, products.cancel)?.inStock === true,
        arrives: 'with StockReleased',
      },
    ],
  },
  {
    mutation: 'AddReview',
    as: shopper(shoppers.review),
    via: 'B',
    setup: async (world) => {
      const productId = seedProduct(products.review).id;
      // One review per shopper and product: the seed may have written this one.
      await shop.byName.reviews.database.db.execute(
        sql`delete from reviews where author_id = ${seedUser(shoppers.review).id} and product_id = ${productId}`,
      );
      world.productId = productId;
      world.reviewCount = (await send('A', 'ProductPage', { id: productId }, anonymous)).data.product.reviewCount;
    },
    variables: (world) => ({ productId: world.productId, rating: 5, body: `Coherent ${world.productId}` }),
    after: (data, world) => (world.reviewId = data.addReview.review.id),
    reads: [
      {
        query: 'ProductPage',
        as: anonymous,
        variables: productPage(products.review),
        effect: 'the review is listed',
        shows: (data, world) => reviewsOf(data).some((review: any) => review.id === world.reviewId),
        arrives: 'at once',
      },
      {
        query: 'ProductReviews',
        as: anonymous,
        variables: productPage(products.review),
        effect: 'the review is listed',
        shows: (data, world) => reviewsOf(data).some((review: any) => review.id === world.reviewId),
        arrives: 'at once',
      },
      {
        query: 'ProductPage',
        as: anonymous,
        variables: productPage(products.review),
        effect: 'the rating counts it',
        shows: (data, world) => data.product.reviewCount === world.reviewCount + 1,
        arrives: 'with ProductRatingChanged',
      },
      {
        query: 'CatalogPage',
        as: anonymous,
        variables: catalogPage(products.review),
        effect: 'the card counts it',
        shows: (data, world) => catalogCard(data, products.review)?.reviewCount === world.reviewCount + 1,
        arrives: 'with ProductRatingChanged',
      },
    ],
  },
  {
    mutation: 'UpdateProfile',
    as: shopper(shoppers.profile),
    via: 'A',
    setup: async (world) => {
      const productId = seedProduct(products.profile).id;
      await shop.byName.reviews.database.db.execute(
        sql`delete from reviews where author_id = ${seedUser(shoppers.profile).id} and product_id = ${productId}`,
      );
      const added = await send(
        'B',
        'AddReview',
        { productId, rating: 4, body: 'Before the rename' },
        shopper(shoppers.profile),
      );
      world.reviewId = added.data.addReview.review.id;
      world.name = `Renamed ${randomUUID().slice(0, 8)}`;
      world.username = `coherent_${randomUUID().slice(0, 8)}`;
      await settled();
    },
    variables: (world) => ({ name: world.name, username: world.username }),
    reads: [
      {
        query: 'OrderHistory',
        as: shopper(shoppers.profile),
        variables: () => ({}),
        effect: 'the viewer has the new name',
        shows: (data, world) => data.viewer.name === world.name,
        arrives: 'at once',
      },
      {
        query: 'ProductPage',
        as: anonymous,
        variables: productPage(products.profile),
        effect: 'the review is signed with the new username',
        shows: (data, world) =>
          reviewsOf(data).find((review: any) => review.id === world.reviewId)?.author.username === world.username,
        arrives: 'with UserProfileChanged, ReviewAuthorRenamed',
      },
      {
        query: 'ProductReviews',
        as: anonymous,
        variables: productPage(products.profile),
        effect: 'the review is signed with the new username',
        shows: (data, world) =>
          reviewsOf(data).find((review: any) => review.id === world.reviewId)?.author.username === world.username,
        arrives: 'with UserProfileChanged, ReviewAuthorRenamed',
      },
    ],
  },
  {
    mutation: 'UpdateProductPrice',
    as: admin,
    via: 'B',
    setup: async (world) => {
      // Cheaper than anything in the catalog, so it moves to the top of every page ordered by price.
      world.centAmount = 0;
    },
    variables: (world) => ({
      productId: seedProduct(products.price).id,
      price: { centAmount: world.centAmount, currencyCode: 'USD' },
    }),
    reads: [
      {
        query: 'ProductPage',
        as: anonymous,
        variables: productPage(products.price),
        effect: 'the new price',
        shows: (data, world) => data.product.price.centAmount === world.centAmount,
        arrives: 'at once',
      },
      {
        query: 'Cart',
        as: shopper(shoppers.order),
        variables: cart(products.price),
        effect: 'the new price',
        shows: (data, world) => data.productsById[0].price.centAmount === world.centAmount,
        arrives: 'at once',
      },
      {
        query: 'CatalogPage',
        as: anonymous,
        variables: catalogPage(products.price),
        effect: 'the new price',
        shows: (data, world) => catalogCard(data, products.price)?.price.centAmount === world.centAmount,
        arrives: 'at once',
      },
      {
        query: 'CatalogPage',
        as: anonymous,
        variables: () => ({ first: 1, filter: { category: categoryOf(products.price) }, orderBy: 'PRICE_ASC' }),
        effect: 'the product moves to the top of the page ordered by price',
        shows: (data) => data.products.edges[0]?.node.id === seedProduct(products.price).id,
        arrives: 'at once',
      },
    ],
  },
  {
    mutation: 'Restock',
    as: admin,
    via: 'A',
    setup: async () => {
      await setStock(products.restock, 0);
    },
    variables: () => ({ productId: seedProduct(products.restock).id, quantity: 5 }),
    reads: [
      {
        query: 'ProductPage',
        as: anonymous,
        variables: productPage(products.restock),
        effect: 'the new stock',
        shows: (data) => data.product.quantity === 5 && data.product.inStock === true,
        arrives: 'at once',
      },
      {
        query: 'Cart',
        as: anonymous,
        variables: cart(products.restock),
        effect: 'the new stock',
        shows: (data) => data.productsById[0].quantity === 5,
        arrives: 'at once',
      },
      {
        query: 'CatalogPage',
        as: anonymous,
        variables: catalogPage(products.restock),
        effect: 'the card says in stock',
        shows: (data) => catalogCard(data, products.restock)?.inStock === true,
        arrives: 'at once',
      },
    ],
  },
];

/** Sets stock behind the router, before anything is primed. */
async function setStock(index: number, quantity: number) {
  await shop.byName.inventory.database.db.execute(
    sql`update stock_levels set quantity = ${quantity} where product_id = ${seedProduct(index).id}`,
  );
}

describe('read-your-writes through the response cache, across two routers sharing Redis', () => {
  it('covers every shipped mutation', () => {
    expect(shippedMutations.length).toBeGreaterThan(0);
    const covered = matrix.map((row) => row.mutation as string);
    expect([...shippedMutations, ...Object.keys(adminDocuments)].filter((name) => !covered.includes(name))).toEqual([]);
  });

  describe.each(matrix.map((row) => [row.mutation, row] as const))('%s', (_, row) => {
    it(
      row.reads.map((read) => `${read.query}: ${read.effect} (${read.arrives})`).join('; '),
      async () => {
        const world: World = {};
        await row.setup(world);
        await settled();

        // Primed until both routers answer from the cache, and the effect is not there yet.
        for (const read of row.reads) {
          const variables = read.variables(world);
          const first = await send('A', read.query, variables, read.as);
          expect(read.shows(first.data, world), `${read.query} before ${row.mutation}`).toBe(false);
          // Retried rather than asserted once: a 10 s entry may expire between two reads on a slow machine.
          await until(
            async () =>
              (await send('A', read.query, variables, read.as)).cache === 'HIT' &&
              (await send('B', read.query, variables, read.as)).cache === 'HIT',
            { timeoutMs: 60_000, what: `${read.query} answered from the cache by both routers` },
          );
        }

        const mutated = await send(row.via, row.mutation, row.variables(world), row.as);
        row.after?.(mutated.data, world);

        const atOnce = row.reads.filter((read) => read.arrives === 'at once');
        const byEvent = row.reads.filter((read) => read.arrives !== 'at once');
        // The next read after the response, through the router that took the mutation and through the other.
        for (const read of atOnce)
          for (const router of [row.via, row.via === 'A' ? 'B' : 'A'] as const) {
            const answer = await send(router, read.query, read.variables(world), read.as);
            expect(read.shows(answer.data, world), `${read.query} through ${router}: ${read.effect}`).toBe(true);
          }
        if (byEvent.length === 0) return;
        await settled();
        for (const read of byEvent)
          for (const router of ['A', 'B'] as const) {
            const answer = await send(router, read.query, read.variables(world), read.as);
            expect(read.shows(answer.data, world), `${read.query} through ${router}: ${read.effect}`).toBe(true);
          }
      },
      240_000,
    );
  });
});
