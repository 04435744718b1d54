import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { count, eq } from 'drizzle-orm';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Viewer } from '../../../platform/src/identity.ts';
import { seedOrder, seedProduct, seedUser, worldSizes } from '../../../seed/world.ts';
import type { GraphQLResponse } from '../../../test/support/shop-graph.ts';
import { startSingleSubgraph, type SingleSubgraph } from '../../../test/support/single-subgraph.ts';
import type {
  MutationCancelOrderArgs,
  MutationPlaceOrderArgs,
  OrderStatus,
  UserOrdersArgs,
} from '../src/__generated__/resolvers.ts';
import * as tables from '../src/db/schema.ts';

/**
 * The orders subgraph alone, on real Postgres, queried as the router would
 * query it (a signed identity header, `_entities` for a user's orders):
 * placing, cancelling and who may see which order. Orders flowing on to
 * inventory and back are tested across subgraphs, in test/.
 */

/**
 * A document typed by the subgraph's own generated types. The client preset
 * types documents against the composed API schema only, which lacks the
 * `_entities` field the router sends to a subgraph.
 */
const typed = <TData, TVariables>(source: string) => parse(source) as TypedDocumentNode<TData, TVariables>;

interface PlacedOrder {
  id: string;
  status: OrderStatus;
  total: { centAmount: number; currencyCode: string };
  items: Array<{ quantity: number; unitPrice: { centAmount: number }; product: { id: string } | null }>;
}

const placeOrder = typed<{ placeOrder: { created: boolean; order: PlacedOrder } }, MutationPlaceOrderArgs>(`
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

const cancelOrder = typed<{ cancelOrder: { order: { id: string; status: OrderStatus } } }, MutationCancelOrderArgs>(`
  mutation Cancel($id: ID!) {
    cancelOrder(id: $id) {
      order {
        id
        status
      }
    }
  }
`);

type UserOrders = { totalCount: number; edges: Array<{ node: { id: string } }> } | null;
const ordersOfUser = typed<{ _entities: Array<{ orders: UserOrders } | null> }, UserOrdersArgs & { userId: string }>(`
  query OrdersOf($userId: ID!, $first: Int) {
    _entities(representations: [{ __typename: "User", id: $userId }]) {
      ... on User {
        orders(first: $first) {
          totalCount
          edges {
            node {
              id
            }
          }
        }
      }
    }
  }
`);

const viewer = (id: string): Viewer => ({ id, scopes: [] });
const alice = viewer(seedUser(0).id);
const bob = viewer(seedUser(1).id);
const [first, second] = [seedProduct(1), seedProduct(2)];
const codeOf = (response: GraphQLResponse<unknown>) => response.body.errors?.[0]?.extensions?.code;

let orders: SingleSubgraph<typeof tables>;

beforeAll(async () => {
  orders = await startSingleSubgraph<typeof tables>('orders', 'orders_local');
});

afterAll(async () => {
  await orders?.stop();
});

const orderCount = async () => (await orders.db.select({ n: count() }).from(tables.orders))[0]!.n;

function place(as: Viewer | null, lines: Array<[typeof first, number]>, idempotencyKey = randomUUID()) {
  const items = lines.map(([product, quantity]) => ({ productId: product.id, quantity }));
  return orders.query(placeOrder, { input: { items, idempotencyKey } }, as);
}

describe('placing an order', () => {
  it('prices it from the read model, not the client, leaves it PENDING and records OrderPlaced with it', async () => {
    const before = await orderCount();
    const response = await place(alice, [
      [first, 2],
      [second, 1],
    ]);
    expect(response.body.errors).toBeUndefined();
    const { created, order } = response.body.data!.placeOrder;
    expect(created).toBe(true);
    expect(order.status).toBe('PENDING');
    expect(order.items).toEqual([
      { quantity: 2, unitPrice: { centAmount: first.priceCents }, product: { id: first.id } },
      { quantity: 1, unitPrice: { centAmount: second.priceCents }, product: { id: second.id } },
    ]);
    expect(order.total).toEqual({ centAmount: 2 * first.priceCents + second.priceCents, currencyCode: 'USD' });
    expect(await orderCount()).toBe(before + 1);
    const [stored] = await orders.db.select().from(tables.orders).where(eq(tables.orders.id, order.id));
    expect(stored).toMatchObject({ userId: alice.id, status: 'PENDING' });
    const placedEvents = await orders.db
      .select({ type: tables.outbox.type })
      .from(tables.outbox)
      .where(eq(tables.outbox.aggregateId, order.id));
    expect(placedEvents).toEqual([{ type: 'OrderPlaced' }]);
  });

  it('places one order for a retried key, and refuses the key for different items', async () => {
    const key = randomUUID();
    const before = await orderCount();
    const placed = await place(alice, [[first, 1]], key);
    const retried = await place(alice, [[first, 1]], key);
    expect(retried.body.data!.placeOrder).toEqual({ ...placed.body.data!.placeOrder, created: false });
    const reused = await place(alice, [[first, 3]], key);
    expect(codeOf(reused)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await orderCount()).toBe(before + 1);
  });

  it('refuses bad input with BAD_USER_INPUT and writes nothing', async () => {
    const before = await orderCount();
    for (const response of [
      await place(alice, []),
      await place(alice, [[first, 0]]),
      await place(alice, [[first, 101]]),
    ])
      expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(await orderCount()).toBe(before);
  });

  it('needs a caller: UNAUTHENTICATED without one, FORBIDDEN for one without an account here, nothing written', async () => {
    const before = await orderCount();
    expect(codeOf(await place(null, [[first, 1]]))).toBe('UNAUTHENTICATED');
    expect(codeOf(await place(viewer(randomUUID()), [[first, 1]]))).toBe('FORBIDDEN');
    expect(await orderCount()).toBe(before);
  });
});

describe('cancelling an order', () => {
  const cancel = (as: Viewer, id: string) => orders.query(cancelOrder, { id }, as);

  it("cancels the caller's pending order, again without error, and records OrderCancelled once", async () => {
    const id = (await place(alice, [[first, 1]])).body.data!.placeOrder.order.id;
    expect((await cancel(alice, id)).body.data!.cancelOrder.order).toEqual({ id, status: 'CANCELLED' });
    expect((await cancel(alice, id)).body.data!.cancelOrder.order).toEqual({ id, status: 'CANCELLED' });
    const events = await orders.db
      .select({ type: tables.outbox.type })
      .from(tables.outbox)
      .where(eq(tables.outbox.aggregateId, id));
    expect(events.map((event) => event.type).sort()).toEqual(['OrderCancelled', 'OrderPlaced']);
  });

  it("answers NOT_FOUND for someone else's order as for a missing one, and leaves it as it was", async () => {
    const id = (await place(alice, [[second, 1]])).body.data!.placeOrder.order.id;
    expect(codeOf(await cancel(bob, id))).toBe('NOT_FOUND');
    expect(codeOf(await cancel(bob, randomUUID()))).toBe('NOT_FOUND');
    const [stored] = await orders.db.select().from(tables.orders).where(eq(tables.orders.id, id));
    expect(stored!.status).toBe('PENDING');
  });

  it('refuses an order that has shipped with CONFLICT', async () => {
    const world = worldSizes.small;
    const shipped = Array.from({ length: world.orders }, (_, index) => seedOrder(index, world)).find(
      (order) => order.status === 'SHIPPED',
    )!;
    const response = await cancel(viewer(shipped.userId), shipped.id);
    expect(codeOf(response)).toBe('CONFLICT');
    expect(response.body.errors![0]!.message).toMatch(/shipped/);
  });
});

describe("a user's orders", () => {
  it('are listed to their owner, newest first, and to nobody else', async () => {
    const id = (await place(bob, [[first, 1]])).body.data!.placeOrder.order.id;

    const own = await orders.query(ordersOfUser, { userId: bob.id, first: 5 }, bob);
    expect(own.body.errors).toBeUndefined();
    const listed = own.body.data!._entities[0]!.orders!;
    expect(listed.edges[0]!.node.id).toBe(id);
    expect(listed.totalCount).toBeGreaterThanOrEqual(1);

    const other = await orders.query(ordersOfUser, { userId: bob.id, first: 5 }, alice);
    expect(other.body.data!._entities[0]!.orders).toBeNull();
    expect(codeOf(other)).toBe('FORBIDDEN');

    const anonymous = await orders.query(ordersOfUser, { userId: bob.id, first: 5 }, null);
    expect(anonymous.body.data!._entities[0]!.orders).toBeNull();
    expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');
  });
});
