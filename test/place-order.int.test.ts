import { randomUUID } from 'node:crypto';
import { count, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/src/db/database.ts';
import { seedOrder, seedProduct, seedUser, worldSizes } from '../seed/world.ts';
import * as orderTables from '../subgraphs/orders/src/db/schema.ts';
import { deleteExpiredIdempotencyKeys } from '../subgraphs/orders/src/place-order.ts';
import { graphql } from './__generated__/gql.ts';
import type { PlaceOrderInput } from './__generated__/graphql.ts';
import { startShopGraph, type GraphQLResponse, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/**
 * Placing and cancelling orders through the router, on real Postgres:
 * prices come from the catalog, a retried checkout places one order, a
 * reused key is refused, bad input writes nothing.
 */

const placeOrder = graphql(`
  mutation Place($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      created
      order {
        id
        status
        total {
          centAmount
          currencyCode
        }
        items {
          quantity
          unitPrice {
            centAmount
          }
          product {
            id
          }
        }
      }
    }
  }
`);
const cancelOrder = graphql(`
  mutation Cancel($id: ID!) {
    cancelOrder(id: $id) {
      order {
        id
        status
      }
    }
  }
`);

const alice = seedUser(0);
const bob = seedUser(1);
const [first, second, third] = [seedProduct(1), seedProduct(2), seedProduct(3)];

let graph: ShopGraph;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  graph = await startShopGraph('place_order');
  for (const user of [alice, bob]) tokens[user.id] = await signTestToken(testJwtSecret, user.id);
});

afterAll(async () => {
  await graph?.stop();
});

const ordersDb = () => graph.subgraphs.orders.database.db as unknown as Database<typeof orderTables>;
const orderCount = async () => (await ordersDb().select({ n: count() }).from(orderTables.orders))[0]!.n;

/** Some inputs here are wrong on purpose (a missing key, a price the schema does not take): they go out as given. */
function place(as: string | null, input: object) {
  return graph.query(
    placeOrder,
    { input: input as PlaceOrderInput },
    as ? { authorization: `Bearer ${tokens[as]}` } : {},
  );
}

const items = (...lines: Array<[typeof first, number]>) =>
  lines.map(([product, quantity]) => ({ productId: product.id, quantity }));
const codeOf = (response: GraphQLResponse<unknown>) => response.body.errors?.[0]?.extensions?.code;

describe('placeOrder', () => {
  it('prices the order from the catalog, not the client, and leaves it PENDING', async () => {
    const response = await place(alice.id, { items: items([first, 2], [second, 1]), idempotencyKey: randomUUID() });
    expect(response.body.errors).toBeUndefined();
    const { created, order } = response.body.data!.placeOrder;
    expect(created).toBe(true);
    expect(order.status).toBe('PENDING');
    expect(order.items).toEqual([
      { quantity: 2, unitPrice: { centAmount: first.priceCents }, product: { id: first.id } },
      { quantity: 1, unitPrice: { centAmount: second.priceCents }, product: { id: second.id } },
    ]);
    expect(order.total).toEqual({ centAmount: 2 * first.priceCents + second.priceCents, currencyCode: 'USD' });
  });

  it('returns the same order for a retry with the same key and items, in any line order', async () => {
    const idempotencyKey = randomUUID();
    const before = await orderCount();
    const placed = await place(alice.id, { items: items([first, 1], [third, 3]), idempotencyKey });
    const retried = await place(alice.id, { items: items([third, 3], [first, 1]), idempotencyKey });
    expect(retried.body.data!.placeOrder).toEqual({ ...placed.body.data!.placeOrder, created: false });
    expect(await orderCount()).toBe(before + 1);
  });

  it('refuses a key reused for different items, with IDEMPOTENCY_KEY_REUSED', async () => {
    const idempotencyKey = randomUUID();
    await place(alice.id, { items: items([first, 1]), idempotencyKey });
    const reused = await place(alice.id, { items: items([first, 2]), idempotencyKey });
    expect(reused.body.data).toBeNull();
    expect(codeOf(reused)).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('keeps keys per user: the same key from two users places two orders', async () => {
    const idempotencyKey = `checkout-${randomUUID()}`;
    const fromAlice = await place(alice.id, { items: items([second, 1]), idempotencyKey });
    const fromBob = await place(bob.id, { items: items([second, 1]), idempotencyKey });
    expect(fromBob.body.data!.placeOrder.created).toBe(true);
    expect(fromBob.body.data!.placeOrder.order.id).not.toBe(fromAlice.body.data!.placeOrder.order.id);
  });

  it('places exactly one order for concurrent requests with one key; the others wait or get the order', async () => {
    const idempotencyKey = randomUUID();
    const before = await orderCount();
    const input = { items: items([first, 1], [second, 2]), idempotencyKey };
    const responses = await Promise.all(Array.from({ length: 12 }, () => place(alice.id, input)));
    const placed = responses.filter((response) => response.body.data?.placeOrder);
    const busy = responses.filter((response) => codeOf(response) === 'IDEMPOTENCY_KEY_IN_PROGRESS');
    expect(placed.length + busy.length).toBe(12);
    expect(placed.filter((response) => response.body.data!.placeOrder.created)).toHaveLength(1);
    expect(new Set(placed.map((response) => response.body.data!.placeOrder.order.id)).size).toBe(1);
    expect(await orderCount()).toBe(before + 1);

    // A retry after the first has finished gets the order.
    const retry = await place(alice.id, input);
    expect(retry.body.data!.placeOrder).toMatchObject({
      created: false,
      order: { id: placed[0]!.body.data!.placeOrder.order.id },
    });
  });

  it.each([
    { case: 'no items', input: { items: [] }, message: /at least one item/ },
    { case: 'a zero quantity', input: { items: items([first, 0]) }, message: /quantity` must be from 1 to 100, got 0/ },
    { case: 'a negative quantity', input: { items: items([first, -3]) }, message: /got -3/ },
    { case: 'a huge quantity', input: { items: items([first, 101]) }, message: /got 101/ },
    {
      case: 'an unknown product',
      input: { items: [{ productId: '00000000-0000-4000-8000-000000000000', quantity: 1 }] },
      message: /No product in the catalog has the id/,
    },
    {
      case: 'a malformed product id',
      input: { items: [{ productId: 'nope', quantity: 1 }] },
      message: /must be a UUID/,
    },
    { case: 'a product on two lines', input: { items: items([first, 1], [first, 2]) }, message: /on two lines/ },
    {
      case: 'too many lines',
      input: { items: Array.from({ length: 51 }, (_, index) => ({ productId: seedProduct(index).id, quantity: 1 })) },
      message: /at most 50 lines/,
    },
    {
      case: 'a bad idempotency key',
      input: { items: items([first, 1]), idempotencyKey: 'has spaces' },
      message: /idempotencyKey/,
    },
    {
      case: 'an empty idempotency key',
      input: { items: items([first, 1]), idempotencyKey: '' },
      message: /idempotencyKey/,
    },
  ])('refuses $case with BAD_USER_INPUT and writes nothing', async ({ input, message }) => {
    const before = await orderCount();
    const response = await place(alice.id, { idempotencyKey: randomUUID(), ...input });
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.body.errors![0]!.message).toMatch(message);
    expect(await orderCount()).toBe(before);
  });

  it('refuses a client-supplied price as an unknown input field', async () => {
    const response = await place(alice.id, {
      items: [{ productId: first.id, quantity: 1, unitPriceCents: 1 }],
      idempotencyKey: randomUUID(),
    });
    expect(codeOf(response)).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
  });

  it('needs a signed-in shopper', async () => {
    const before = await orderCount();
    const response = await place(null, { items: items([first, 1]), idempotencyKey: randomUUID() });
    expect(codeOf(response)).toBe('UNAUTHENTICATED');
    expect(await orderCount()).toBe(before);
  });

  it('forgets keys after a day, and then the key places a new order', async () => {
    const idempotencyKey = randomUUID();
    const first_ = await place(alice.id, { items: items([third, 1]), idempotencyKey });
    await ordersDb()
      .update(orderTables.idempotencyKeys)
      .set({ expiresAt: sql`now() - interval '1 second'` })
      .where(eq(orderTables.idempotencyKeys.key, idempotencyKey));
    expect(await deleteExpiredIdempotencyKeys(ordersDb())).toBeGreaterThanOrEqual(1);
    const again = await place(alice.id, { items: items([third, 1]), idempotencyKey });
    expect(again.body.data!.placeOrder.created).toBe(true);
    expect(again.body.data!.placeOrder.order.id).not.toBe(first_.body.data!.placeOrder.order.id);
  });
});

describe('cancelOrder', () => {
  const cancel = (as: string, id: string) =>
    graph.query(cancelOrder, { id }, { authorization: `Bearer ${tokens[as]}` });

  it("cancels the shopper's pending order, and a second cancel is not an error", async () => {
    const placed = await place(alice.id, { items: items([first, 1]), idempotencyKey: randomUUID() });
    const id = placed.body.data!.placeOrder.order.id;
    expect((await cancel(alice.id, id)).body.data!.cancelOrder.order).toEqual({ id, status: 'CANCELLED' });
    expect((await cancel(alice.id, id)).body.data!.cancelOrder.order).toEqual({ id, status: 'CANCELLED' });
  });

  it("answers NOT_FOUND for someone else's order, as for one that does not exist", async () => {
    const placed = await place(alice.id, { items: items([first, 1]), idempotencyKey: randomUUID() });
    expect(codeOf(await cancel(bob.id, placed.body.data!.placeOrder.order.id))).toBe('NOT_FOUND');
    expect(codeOf(await cancel(bob.id, randomUUID()))).toBe('NOT_FOUND');
  });

  it('refuses an order that has shipped, with CONFLICT', async () => {
    const world = worldSizes.small;
    const shipped = Array.from({ length: world.orders }, (_, index) => seedOrder(index, world)).find(
      (order) => order.status === 'SHIPPED',
    )!;
    tokens[shipped.userId] ??= await signTestToken(testJwtSecret, shipped.userId);
    const response = await cancel(shipped.userId, shipped.id);
    expect(codeOf(response)).toBe('CONFLICT');
    expect(response.body.errors![0]!.message).toMatch(/shipped/);
  });
});
