import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectRows, type Database } from '../platform/src/db/database.ts';
import type { EventBus } from '../platform/src/events/index.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import * as inventoryTables from '../subgraphs/inventory/src/db/schema.ts';
import * as orderTables from '../subgraphs/orders/src/db/schema.ts';
import { startPostgres, type PostgresServer } from './services.ts';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { openTestStreams, type TestStreams } from './support/event-streams.ts';
import { measureMachineSpeed } from './support/machine-speed.ts';
import { untilDone } from './support/until.ts';

/**
 * Orders survive retries, concurrency and a database that goes away: 20
 * clients place 5,000 orders through the router, on a Postgres of this
 * file's own (durable settings, so a restart shows what a real one keeps)
 * and real Redis Streams. Midway Postgres is restarted (fast shutdown, then
 * start), later every connection is terminated. Clients retry as a careful
 * client would: the same idempotency key, up to 5 attempts, jittered backoff;
 * some resend after a lost response, some send the same request twice at once.
 *
 * Then: one order per key; every order a client was told about is stored as
 * told; every event recorded was published and consumed exactly once (by
 * distinct event id), and stock went down by exactly what confirmed orders hold.
 *
 * Bounded by counts, not by a clock: every wait fails only when nothing has
 * moved for a long while, and the few durations the test does bound (a hung
 * request, recovery from a fault) are stretched by the machine's measured
 * slowdown, so a busy 2-core machine passes as long as the code is right.
 */

const redisUrl = inject('redisUrl');
/** Measured before the file's tests are collected, so the test's own timeout can scale too. */
const speed = await measureMachineSpeed();

type AnyDatabase = Database<typeof orderTables> | Database<typeof inventoryTables>;

const orderCount = 5_000;
const clientCount = 20;
const maxAttempts = 5;
/** Products the orders draw from; stock is set high enough for all of them. */
const productCount = 20;
const initialStock = 1_000_000;
/** A request taking longer than this counts as hung. */
const requestTimeoutMs = speed.scale(20_000);
/**
 * A wait fails once what it watches has not moved for this long. Above the
 * bus's longest redelivery backoff (its claim timeout, 30 s), which a handler
 * failing through the restart may sit out before its event moves again.
 */
const stallMs = speed.scale(60_000);
/** Both faults are recovered from within this (on the reference machine), measured from the fault. */
const recoveryMs = 10_000;
/** Faults happen once this many orders have been acknowledged. */
const restartAfter = 1_500;
const terminateAfter = 3_000;

const placeOrder = /* GraphQL */ `
  mutation PlaceOrder($items: [OrderLineInput!]!, $key: String!) {
    placeOrder(input: { items: $items, idempotencyKey: $key }) {
      created
      order {
        id
      }
    }
  }
`;

type Line = { productId: string; quantity: number };

/** Each order's lines, fixed by its index, so a retry resends exactly the same request. */
function linesOf(index: number): Line[] {
  const lineCount = 1 + (index % 3);
  return Array.from({ length: lineCount }, (_, line) => ({
    productId: seedProduct((index * 7 + line * 5) % productCount).id,
    quantity: 1 + ((index + line) % 3),
  }));
}

interface Attempt {
  orderId: string | null;
  /** The error code, `HTTP <status>`, or the network failure's name; null on success. */
  failure: string | null;
  startedAt: number;
  endedAt: number;
}

describe('placing 5,000 orders through a Postgres restart and terminated connections', () => {
  let pg: PostgresServer;
  let graph: ShopGraph;
  let bus: EventBus;
  let streams: TestStreams;
  let redis: TestStreams['redis'];
  let prefix: string;
  const tokens: string[] = [];

  beforeAll(async () => {
    if (!redisUrl) {
      expect(process.env.CI).not.toBe('true');
      return;
    }
    pg = await startPostgres({ durable: true });
    streams = await openTestStreams(redisUrl);
    ({ redis, bus, prefix } = streams);
    graph = await startShopGraph('durability', {}, { bus, postgresAdminUrl: pg.adminUrl });
    for (let user = 0; user < clientCount; user++)
      tokens.push(await signTestToken(testJwtSecret, seedUser(user).id, []));
    await inventoryDb().update(inventoryTables.stockLevels).set({ quantity: initialStock });
  }, speed.scale(180_000));

  afterAll(async () => {
    await graph?.stop();
    await streams?.close();
    await pg?.stop();
  });

  const ordersDb = () => graph.subgraphs.orders.database.db as unknown as Database<typeof orderTables>;
  const inventoryDb = () => graph.subgraphs.inventory.database.db as unknown as Database<typeof inventoryTables>;

  async function send(userIndex: number, key: string, items: Line[]): Promise<Attempt> {
    const startedAt = Date.now();
    const ended = (orderId: string | null, failure: string | null): Attempt => ({
      orderId,
      failure,
      startedAt,
      endedAt: Date.now(),
    });
    try {
      const response = await fetch(graph.router.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[userIndex]}` },
        body: JSON.stringify({ query: placeOrder, variables: { items, key } }),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const body = (await response.json()) as {
        data?: { placeOrder: { order: { id: string } } | null } | null;
        errors?: Array<{ extensions?: { code?: string } }>;
      };
      const orderId = body.data?.placeOrder?.order.id ?? null;
      if (orderId) return ended(orderId, null);
      return ended(null, String(body.errors?.[0]?.extensions?.code ?? `HTTP ${response.status}`));
    } catch (error) {
      return ended(null, (error as Error).name);
    }
  }

  it(
    'keeps one order per key, loses no acknowledged order, and accounts for every event',
    async () => {
      if (!redisUrl) return;
      const [{ seeded } = { seeded: 0 }] = await selectRows<{ seeded: number }>(
        ordersDb(),
        sql`select count(*)::int as seeded from orders`,
      );

      const attempts: Attempt[] = [];
      /** Every order id each key was acknowledged with: more than one id for a key would be a duplicate order. */
      const acknowledged = new Map<string, Set<string>>();
      const gaveUp: string[] = [];
      let acknowledgedCount = 0;
      const faults: Record<string, { at: number; recoveredAt?: number; detail?: unknown }> = {};

      /** One logical order: attempts with the same key until one is acknowledged, at most `maxAttempts`. */
      async function placeWithRetries(userIndex: number, index: number): Promise<void> {
        const key = `load-${index}`;
        const items = linesOf(index);
        for (let attempt = 1; attempt <= maxAttempts; attempt++) {
          // Every tenth order loses its first response, as over a dropped connection; every
          // 25th is sent twice at once, as by a double click.
          const copies = attempt === 1 && index % 25 === 0 ? 2 : 1;
          const results = await Promise.all(Array.from({ length: copies }, () => send(userIndex, key, items)));
          attempts.push(...results);
          const lostResponse = attempt === 1 && index % 10 === 0;
          const ok = results.filter((result) => result.orderId !== null);
          for (const result of ok) {
            const ids = acknowledged.get(key) ?? new Set();
            if (!lostResponse) ids.add(result.orderId!);
            acknowledged.set(key, ids);
          }
          if (ok.length > 0 && !lostResponse) {
            acknowledgedCount++;
            return;
          }
          if (attempt < maxAttempts) await sleep(200 * 2 ** (attempt - 1) * (0.5 + Math.random()));
        }
        gaveUp.push(key);
      }

      /** Orders settled either way: it moves while clients get anywhere. */
      const settled = () => acknowledgedCount + gaveUp.length;

      async function injectFaults(): Promise<void> {
        await untilDone(settled, () => acknowledgedCount >= restartAfter, {
          stallMs,
          what: 'orders before the restart',
        });
        const restart = await pg.restart();
        faults.restart = { at: restart.stoppedAt, detail: { downMs: restart.acceptingAt - restart.stoppedAt } };

        await untilDone(settled, () => acknowledgedCount >= terminateAfter, {
          stallMs,
          what: 'orders before terminating',
        });
        const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
        try {
          const terminated = await admin`
            select count(*)::int as count from (
              select pg_terminate_backend(pid) from pg_stat_activity
              where datname like 't_durability%' and pid <> pg_backend_pid()
            ) as terminated`;
          faults.terminate = { at: Date.now(), detail: { connections: terminated[0]!.count } };
        } finally {
          await admin.end({ timeout: 5 });
        }
      }

      let next = 0;
      const startedAt = Date.now();
      const clients = Array.from({ length: clientCount }, async (_, userIndex) => {
        while (next < orderCount) await placeWithRetries(userIndex, next++);
      });
      // The clients end by count; the watch fails the test if they stop getting anywhere meanwhile.
      const watch = untilDone(settled, (count) => count === orderCount, { stallMs, what: 'orders settled' });
      await Promise.all([...clients, injectFaults(), watch]);
      const elapsedMs = Date.now() - startedAt;
      // Re-measured after the load: the faults' recovery is judged by the slower of the two.
      const speedAfter = await measureMachineSpeed();
      const recoveryBoundMs = Math.round(recoveryMs * Math.max(speed.slowdown, speedAfter.slowdown));

      // Service resumed: the first request started after each fault that was acknowledged.
      for (const fault of Object.values(faults)) {
        fault.recoveredAt = attempts
          .filter((attempt) => attempt.orderId && attempt.startedAt >= fault.at)
          .reduce((first, attempt) => Math.min(first, attempt.endedAt), Infinity);
      }
      const failures = attempts.reduce<Record<string, number>>((counts, attempt) => {
        if (attempt.failure) counts[attempt.failure] = (counts[attempt.failure] ?? 0) + 1;
        return counts;
      }, {});
      const slowestMs = Math.max(...attempts.map((attempt) => attempt.endedAt - attempt.startedAt));
      console.log(
        JSON.stringify({
          orders: orderCount,
          elapsedMs,
          slowdown: { before: round(speed.slowdown), after: round(speedAfter.slowdown) },
          requestTimeoutMs,
          recoveryBoundMs,
          requests: attempts.length,
          acknowledged: acknowledgedCount,
          gaveUp: gaveUp.length,
          failures,
          slowestMs,
          hungStartedAt: attempts
            .filter((attempt) => attempt.failure === 'TimeoutError')
            .map((attempt) => ({
              sinceRestart: attempt.startedAt - faults.restart!.at,
              sinceTerminate: attempt.startedAt - faults.terminate!.at,
            })),
          faults: Object.fromEntries(
            Object.entries(faults).map(([name, fault]) => [
              name,
              { ...(fault.detail as object), resumedAfterMs: fault.recoveredAt! - fault.at },
            ]),
          ),
        }),
      );

      // No request hung, and both faults really happened and were recovered from in seconds.
      expect(failures.TimeoutError ?? 0).toBe(0);
      expect(faults.restart).toBeDefined();
      expect((faults.terminate!.detail as { connections: number }).connections).toBeGreaterThan(0);
      for (const fault of Object.values(faults)) expect(fault.recoveredAt! - fault.at).toBeLessThan(recoveryBoundMs);
      // Faults cost retries, not orders: a careful client still got through.
      expect(acknowledgedCount + gaveUp.length).toBe(orderCount);
      expect(gaveUp.length).toBeLessThan(orderCount / 100);

      // Exactly one order per key; a key never answered with two different orders.
      for (const ids of acknowledged.values()) expect(ids.size).toBeLessThanOrEqual(1);
      const keys = await ordersDb()
        .select({ key: orderTables.idempotencyKeys.key, orderId: orderTables.idempotencyKeys.orderId })
        .from(orderTables.idempotencyKeys);
      const [{ placed } = { placed: 0 }] = await selectRows<{ placed: number }>(
        ordersDb(),
        sql`select count(*)::int as placed from orders`,
      );
      expect(placed - seeded).toBe(keys.length);
      expect(new Set(keys.map((key) => key.orderId)).size).toBe(keys.length);
      // Every acknowledged order is stored, under the key it was placed with.
      const orderOfKey = new Map(keys.map((key) => [key.key, key.orderId]));
      for (const [key, ids] of acknowledged) for (const id of ids) expect(orderOfKey.get(key)).toBe(id);
      expect(keys.length).toBeGreaterThanOrEqual(acknowledgedCount);
      expect(keys.length).toBeLessThanOrEqual(orderCount);

      // Every order gets decided once its events have gone round: thousands of events
      // each way, as long as that takes, while the count keeps going down.
      const decidingStartedAt = Date.now();
      await untilDone(
        async () => {
          const [row] = await selectRows<{ pending: number }>(
            ordersDb(),
            sql`select count(*)::int as pending from orders o join idempotency_keys k on k.order_id = o.id where o.status = 'PENDING'`,
          );
          return row!.pending;
        },
        (pending) => pending === 0,
        { stallMs, what: 'orders still PENDING' },
      );
      await untilDone(
        async () => [await unpublished(ordersDb()), await unpublished(inventoryDb())],
        (counts) => counts.every((count) => count === 0),
        { stallMs, what: 'unpublished outbox rows (orders, inventory)' },
      );
      console.log(JSON.stringify({ decidedAndDrainedMs: Date.now() - decidingStartedAt }));

      // Events: what was recorded, what reached the stream, and what was applied are the same set.
      const recordedPlaced = await eventIds(ordersDb(), 'OrderPlaced');
      expect(recordedPlaced.size).toBe(keys.length);
      expect(await streamIds('orders', 'OrderPlaced')).toEqual(recordedPlaced);
      expect(await consumedIds(inventoryDb(), 'inventory', recordedPlaced)).toEqual(recordedPlaced);

      const recordedReserved = await eventIds(inventoryDb(), 'StockReserved');
      expect(recordedReserved.size).toBe(keys.length);
      expect(await streamIds('inventory', 'StockReserved')).toEqual(recordedReserved);
      expect(await consumedIds(ordersDb(), 'orders', recordedReserved)).toEqual(recordedReserved);

      // Each reservation applied once: stock went down by exactly what the stored orders hold.
      const ordered = await selectRows<{ productId: string; quantity: number }>(
        ordersDb(),
        sql`
          select i.product_id as "productId", sum(i.quantity)::int as quantity
          from order_items i join idempotency_keys k on k.order_id = i.order_id
          group by i.product_id`,
      );
      const stock = new Map(
        (await inventoryDb().select().from(inventoryTables.stockLevels)).map((row) => [row.productId, row.quantity]),
      );
      for (const { productId, quantity } of ordered) expect(initialStock - stock.get(productId)!).toBe(quantity);
    },
    speed.scale(15 * 60_000),
  );

  /** Slowdowns to two decimals, for the log line. */
  function round(value: number): number {
    return Math.round(value * 100) / 100;
  }

  /** Rows of the outbox not yet published. */
  async function unpublished(db: AnyDatabase): Promise<number> {
    const [row] = await selectRows<{ count: number }>(
      db,
      sql`select count(*)::int as count from outbox where published_at is null`,
    );
    return row!.count;
  }

  async function eventIds(db: AnyDatabase, type: string): Promise<Set<string>> {
    const rows = await selectRows<{ id: string }>(db, sql`select id from outbox where type = ${type}`);
    return new Set(rows.map((row) => row.id));
  }

  /** Distinct ids of `type` events on the stream: at least once may publish an event twice, never zero times. */
  async function streamIds(stream: string, type: string): Promise<Set<string>> {
    const entries = await redis.xRange(`${prefix}:${stream}`, '-', '+');
    return new Set(entries.filter((entry) => entry.message.type === type).map((entry) => entry.message.id!));
  }

  async function consumedIds(db: AnyDatabase, consumer: string, among: Set<string>): Promise<Set<string>> {
    const rows = await selectRows<{ id: string }>(
      db,
      sql`select event_id as id from processed_events where consumer = ${consumer}`,
    );
    return new Set(rows.map((row) => row.id).filter((id) => among.has(id)));
  }
});
