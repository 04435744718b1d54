import { randomBytes, randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { eq } from 'drizzle-orm';
import { parse } from 'graphql';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Database, DatabaseTarget } from '../platform/src/db/database.ts';
import { createIdentitySigner, identityHeader, type Viewer } from '../platform/src/identity.ts';
import { createLogger } from '../platform/src/logger.ts';
import { startSubgraph, type RunningSubgraph } from '../platform/src/subgraph/server.ts';
import { seedOrder, seedProduct, seedUser, worldSizes } from '../seed/world.ts';
import type { MutationPlaceOrderArgs } from '../subgraphs/orders/src/__generated__/resolvers.ts';
import * as orderTables from '../subgraphs/orders/src/db/schema.ts';
import { loadSubgraph } from '../subgraphs/registry.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { scrape } from './support/metrics.ts';
import { startReplica, type PostgresReplica } from './support/postgres-replica.ts';
import { postGraphQL, testLogger, type GraphQLResponse } from './support/shop-graph.ts';
import { testIdentitySecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * The orders subgraph reading from a real streaming replica of the suite's
 * Postgres (platform/src/db/replicas.ts), with the replica's replay paused
 * so that what it serves differs from the primary, observably:
 * read-your-writes after a shopper's order, and for what was written on the
 * primary after it (an order confirmed), everyone else on the replica, back
 * to the replica once it has caught up or the window is over, the primary
 * answering while the replica is stopped, writes on the primary.
 *
 * Two instances of the subgraph share the database and a Redis, where the
 * callers' write positions live, as replicas of a deployment do; a third
 * keeps them in process, with a short window. Each test that needs a
 * caller's record places an order of its own first.
 */

const typed = <TData, TVariables>(source: string) => parse(source) as TypedDocumentNode<TData, TVariables>;

const placeOrder = typed<{ placeOrder: { order: { id: string } } }, MutationPlaceOrderArgs>(`
  mutation Place($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      order {
        id
      }
    }
  }
`);

type History = { totalCount: number; edges: Array<{ node: { id: string; status: string } }> } | null;
const orderHistory = typed<{ _entities: Array<{ orders: History } | null> }, { userId: string }>(`
  query History($userId: ID!) {
    _entities(representations: [{ __typename: "User", id: $userId }]) {
      ... on User {
        orders(first: 100) {
          totalCount
          edges {
            node {
              id
              status
            }
          }
        }
      }
    }
  }
`);

/** An order by id, as the router fetches one: null when the read finds no such row, UNAUTHENTICATED to an anonymous caller when it does. */
const orderById = typed<{ _entities: Array<{ id: string } | null> }, { id: string }>(`
  query Order($id: ID!) {
    _entities(representations: [{ __typename: "Order", id: $id }]) {
      ... on Order {
        id
      }
    }
  }
`);

const viewer = (id: string): Viewer => ({ id, scopes: [] });
const alice = viewer(seedUser(0).id);
const bob = viewer(seedUser(1).id);
const carol = viewer(seedUser(2).id);
/** Seeded: on the replica long before any pause. */
const seededOrder = seedOrder(0, worldSizes.small);

/**
 * The shared instances' window: longer than this file can take on the
 * slowest machine, so no test depends on how long the ones before it took.
 */
const sharedWindowMs = 600_000;
/**
 * The solo instance's, whose end a test waits for: long enough that a
 * read right after an order is always within it, short enough to wait out.
 */
const shortWindowMs = 5_000;
const replicaUnreachable = 'read replica unreachable; its reads go to the primary until it answers again';
const replicaBack = 'read replica answers again; reads go to it';

let replica: PostgresReplica;
let database: TestDatabase;
let databaseName: string;
let primaryUrl: string;
/** Two instances recording write positions in one Redis. */
let shared: RunningSubgraph;
let sharedTwin: RunningSubgraph;
/** One recording them in process, for `shortWindowMs`. */
let solo: RunningSubgraph;
const sharedLog: Array<Record<string, unknown>> = [];
let sign: (as: Viewer) => Promise<string>;

beforeAll(async () => {
  const redisUrl = inject('redisUrl');
  if (redisUrl === null)
    throw new Error('this test needs a real Redis: the int tier starts one, or set TEST_REDIS_URL');
  replica = await startReplica();
  database = await createTestDatabase('read_replicas');
  if (database.target.kind !== 'postgres') throw new Error(`expected a postgres target, got ${database.target.kind}`);
  primaryUrl = database.target.url;
  databaseName = new URL(primaryUrl).pathname.slice(1);
  const withReplica = (readYourWritesWindowMs: number): DatabaseTarget => ({
    ...(database.target as Extract<DatabaseTarget, { kind: 'postgres' }>),
    replicas: { urls: [replica.urlOf(databaseName)], readYourWritesWindowMs },
  });
  const definition = await loadSubgraph('orders');
  const settings = {
    host: '127.0.0.1',
    port: 0,
    nodeEnv: 'test' as const,
    identitySecret: testIdentitySecret,
    migrateOnStart: true,
  };
  // Events travel on the shared Redis, under a prefix of this file's; the records go there with them.
  const onRedis = { redisUrl, eventStreamPrefix: `read-replicas-${randomBytes(4).toString('hex')}` };
  const capturing = createLogger({
    service: 'orders',
    destination: { write: (line: string) => void sharedLog.push(JSON.parse(line) as Record<string, unknown>) },
  });
  shared = await startSubgraph(
    definition,
    { ...settings, ...onRedis, database: withReplica(sharedWindowMs), seedIfEmpty: 'small' },
    capturing,
  );
  sharedTwin = await startSubgraph(
    definition,
    { ...settings, ...onRedis, database: withReplica(sharedWindowMs), seedIfEmpty: null },
    testLogger('orders'),
  );
  solo = await startSubgraph(
    definition,
    { ...settings, database: withReplica(shortWindowMs), seedIfEmpty: null, bus: null },
    testLogger('orders'),
  );
  // The migrated, seeded database on the replica too, before anything is paused.
  await replica.catchUp();
  const signer = await createIdentitySigner(testIdentitySecret);
  sign = (as) => signer.sign(as);
});

afterAll(async () => {
  await Promise.allSettled([shared, sharedTwin, solo].map((subgraph) => subgraph?.stop()));
  await replica?.remove();
  await database?.drop();
});

async function query<TData, TVariables>(
  subgraph: RunningSubgraph,
  operation: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  as: Viewer | null,
): Promise<GraphQLResponse<TData>> {
  const headers: Record<string, string> = as ? { [identityHeader]: await sign(as) } : {};
  return postGraphQL(subgraph.url, operation, variables, headers);
}

/** `shopper`'s orders as `subgraph` serves their history, failing on any error. */
async function ordersOf(subgraph: RunningSubgraph, shopper: Viewer): Promise<Array<{ id: string; status: string }>> {
  const response = await query(subgraph, orderHistory, { userId: shopper.id }, shopper);
  expect(response.body.errors).toBeUndefined();
  return response.body.data!._entities[0]!.orders!.edges.map((edge) => edge.node);
}

/** The ids in `shopper`'s order history as `subgraph` serves it. */
async function historyOf(subgraph: RunningSubgraph, shopper: Viewer): Promise<string[]> {
  return (await ordersOf(subgraph, shopper)).map((order) => order.id);
}

/** The status `subgraph` shows `shopper` for one of their orders. */
async function statusIn(subgraph: RunningSubgraph, shopper: Viewer, orderId: string): Promise<string | undefined> {
  return (await ordersOf(subgraph, shopper)).find((order) => order.id === orderId)?.status;
}

async function place(subgraph: RunningSubgraph, shopper: Viewer): Promise<string> {
  const input = { items: [{ productId: seedProduct(1).id, quantity: 1 }], idempotencyKey: randomUUID() };
  const response = await query(subgraph, placeOrder, { input }, shopper);
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.placeOrder.order.id;
}

const primary = () => shared.database.db as unknown as Database<typeof orderTables>;

/** An order written on the primary by something other than its shopper's request (a back-office tool, say): no caller's record moves. */
async function writeOrderDirectly(shopper: Viewer): Promise<string> {
  const [row] = await primary()
    .insert(orderTables.orders)
    .values({ userId: shopper.id, totalCents: 100 })
    .returning({ id: orderTables.orders.id });
  return row!.id;
}

/**
 * Sets an order's status on the primary as the orders consumer does once
 * inventory has answered: a write after the shopper's own, by no request
 * of theirs, so no record of theirs names it.
 */
async function decideDirectly(orderId: string, status: 'CONFIRMED' | 'REJECTED'): Promise<void> {
  const sql = postgres(primaryUrl, { max: 1, onnotice: () => {} });
  try {
    const updated = await sql`update orders set status = ${status} where id = ${orderId} and status = 'PENDING'`;
    expect(updated.count).toBe(1);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Whether the order's row is on the replica, read there directly. */
async function onReplica(orderId: string): Promise<boolean> {
  const sql = postgres(replica.urlOf(databaseName), { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from orders where id = ${orderId}`;
    return rows.length > 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function onPrimary(orderId: string): Promise<boolean> {
  const rows = await primary()
    .select({ id: orderTables.orders.id })
    .from(orderTables.orders)
    .where(eq(orderTables.orders.id, orderId));
  return rows.length > 0;
}

async function readsBy(subgraph: RunningSubgraph, target: 'replica' | 'primary', reason?: string): Promise<number> {
  return (await scrape(subgraph)).sum('db_read_requests_total', { target, ...(reason ? { reason } : {}) });
}

let bobsUnseenOrder: string;

describe('reads on a paused replica', () => {
  it('shows the shopper an order placed while the replica is paused at once, on the instance that placed it and on another (read-your-writes)', async () => {
    await replica.pauseReplay();
    const alicesOrder = await place(shared, alice);
    expect(await onPrimary(alicesOrder)).toBe(true);
    expect(await onReplica(alicesOrder)).toBe(false);
    const before = await readsBy(shared, 'primary', 'read_your_writes');
    expect(await historyOf(shared, alice)).toContain(alicesOrder);
    // The other instance knows of the write only through Redis.
    expect(await historyOf(sharedTwin, alice)).toContain(alicesOrder);
    expect(await readsBy(shared, 'primary', 'read_your_writes')).toBe(before + 1);
  });

  it('serves other shoppers from the replica: a row written meanwhile is not there yet', async () => {
    bobsUnseenOrder = await writeOrderDirectly(bob);
    const before = await readsBy(shared, 'replica', 'no_recent_write');
    expect(await historyOf(shared, bob)).not.toContain(bobsUnseenOrder);
    expect(await readsBy(shared, 'replica', 'no_recent_write')).toBe(before + 1);
  });

  it('serves anonymous callers from the replica: an order written meanwhile is not found, an older one is', async () => {
    // On the primary the new order would be found, and refused to a caller who is not its owner.
    const unseen = await query(shared, orderById, { id: bobsUnseenOrder }, null);
    expect(unseen.body).toEqual({ data: { _entities: [null] } });
    const seeded = await query(shared, orderById, { id: seededOrder.id }, null);
    expect(seeded.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('reads the shopper from the replica again, within the window, once it has replayed all the primary has', async () => {
    await replica.pauseReplay();
    const alicesOrder = await place(shared, alice);
    expect(await historyOf(shared, alice)).toContain(alicesOrder);
    await replica.resumeReplay();
    await replica.catchUp();
    expect(await historyOf(shared, bob)).toContain(bobsUnseenOrder);
    // Other test files write to the same Postgres server: the replica, replaying, soon has all of it, but
    // a read may find the primary a step ahead, and go there.
    const before = await readsBy(shared, 'replica', 'caught_up');
    await until(
      async () => {
        expect(await historyOf(shared, alice)).toContain(alicesOrder);
        return (await readsBy(shared, 'replica', 'caught_up')) > before;
      },
      { timeoutMs: 60_000, what: "alice's history served by the replica that caught up" },
    );
  });

  it('shows the shopper what was written on the primary after their order (its confirmation), though the replica has replayed the order', async () => {
    await replica.pauseReplay();
    const alicesOrder = await place(shared, alice);
    await replica.resumeReplay();
    await replica.catchUp();
    expect(await onReplica(alicesOrder)).toBe(true);
    // Past her order's own position, the replica stops; then the order is confirmed, as the consumer would.
    await replica.pauseReplay();
    const bobsNewOrder = await writeOrderDirectly(bob);
    await decideDirectly(alicesOrder, 'CONFIRMED');

    const before = await readsBy(shared, 'primary', 'read_your_writes');
    expect(await statusIn(shared, alice, alicesOrder)).toBe('CONFIRMED');
    expect(await statusIn(sharedTwin, alice, alicesOrder)).toBe('CONFIRMED');
    expect(await readsBy(shared, 'primary', 'read_your_writes')).toBe(before + 1);

    // Everyone else still reads from the paused replica, which has neither write.
    const onTheReplica = await readsBy(shared, 'replica', 'no_recent_write');
    expect(await historyOf(shared, bob)).not.toContain(bobsNewOrder);
    const unseen = await query(shared, orderById, { id: bobsNewOrder }, null);
    expect(unseen.body).toEqual({ data: { _entities: [null] } });
    expect(await readsBy(shared, 'replica', 'no_recent_write')).toBe(onTheReplica + 2);
    await replica.resumeReplay();
    await replica.catchUp();
  });

  it('reads from the replica again once the window is over, though it has not replayed the write', async () => {
    await replica.pauseReplay();
    const carolsOrder = await place(solo, carol);
    // Within the window her history comes from the primary.
    const within = await readsBy(solo, 'primary', 'read_your_writes');
    expect(await historyOf(solo, carol)).toContain(carolsOrder);
    expect(await readsBy(solo, 'primary', 'read_your_writes')).toBe(within + 1);
    // After it, from the paused replica, which lacks the order: her record is gone, not the replica caught up.
    const after = await readsBy(solo, 'replica', 'no_recent_write');
    await until(async () => !(await historyOf(solo, carol)).includes(carolsOrder), {
      timeoutMs: 60_000,
      what: `carol's history served by the paused replica ${shortWindowMs} ms after her order`,
    });
    expect(await onPrimary(carolsOrder)).toBe(true);
    expect(await readsBy(solo, 'replica', 'no_recent_write')).toBe(after + 1);
    expect(await readsBy(solo, 'replica', 'caught_up')).toBe(0);
    await replica.resumeReplay();
    await replica.catchUp();
  });
});

describe('a replica that is down', () => {
  it('leaves reads to the primary, with no error to the client, and is logged once', async () => {
    await replica.stop();
    // Bob has no recent write, so his read is sent to the replica without asking it anything first:
    // it fails there for want of a connection, and is sent again to the primary.
    expect(await historyOf(shared, bob)).toContain(bobsUnseenOrder);
    expect((await scrape(shared)).sum('db_replica_statements_retried_total')).toBeGreaterThan(0);
    const newOrder = await place(shared, alice);
    for (let round = 0; round < 3; round++) {
      expect(await historyOf(shared, alice)).toContain(newOrder);
      expect(await historyOf(shared, bob)).toContain(bobsUnseenOrder);
      const anonymous = await query(shared, orderById, { id: seededOrder.id }, null);
      expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    expect(await readsBy(shared, 'primary', 'replica_down')).toBeGreaterThan(0);
    expect((await scrape(shared)).sum('db_read_replicas_up')).toBe(0);
    expect(sharedLog.filter((line) => line.msg === replicaUnreachable)).toHaveLength(1);
  });

  it('gets reads again once it answers', async () => {
    await replica.start();
    const before = await readsBy(shared, 'replica');
    // Bob has no recent write: his reads go to the replica as soon as it is back up.
    await until(
      async () => {
        await historyOf(shared, bob);
        return (await readsBy(shared, 'replica')) > before;
      },
      { timeoutMs: 60_000, what: 'reads on the replica after its restart' },
    );
    expect(sharedLog.filter((line) => line.msg === replicaBack)).toHaveLength(1);
    expect(sharedLog.filter((line) => line.msg === replicaUnreachable)).toHaveLength(1);
  });
});
