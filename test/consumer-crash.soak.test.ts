import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newEvent, type EventBus } from '../platform/src/events/index.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { freePorts, runScript, type ServiceProcess } from './support/processes.ts';
import { openTestStreams, type TestStreams } from './support/event-streams.ts';
import { measureMachineSpeed } from './support/machine-speed.ts';
import { until, untilDone } from './support/until.ts';

/**
 * The inventory subgraph, as its own process, consumes a backlog of
 * OrderPlaced events from real Redis Streams and is SIGKILLed while it works
 * through them. A new process takes over the dead one's unacknowledged
 * deliveries (after the group's claim timeout) and finishes the backlog.
 * Every order is reserved exactly once: one reservation, one StockReserved,
 * one inbox row per event, and stock down by exactly what was ordered.
 * The waits are on counts: each fails only when its count stops moving.
 */

const redisUrl = inject('redisUrl');
const postgresAdminUrl = inject('postgresAdminUrl');
/** Measured before the tests are collected, so their timeouts scale too. */
const speed = await measureMachineSpeed();
/**
 * A wait fails once its count has not moved for this long: above the group's
 * claim timeout (30 s), which the dead process's deliveries sit out before
 * the new one may take them over.
 */
const stallMs = speed.scale(60_000);

const eventCount = 2_000;
const productCount = 10;
const initialStock = 1_000_000;

describe('an inventory consumer killed in the middle of a batch', () => {
  let database: TestDatabase;
  let sql: ReturnType<typeof postgres>;
  let streams: TestStreams;
  let redis: TestStreams['redis'];
  let bus: EventBus;
  let prefix: string;
  let inventory: ServiceProcess | null = null;
  let port: number;

  const start = async () => {
    inventory = runScript('subgraphs/serve.ts', ['inventory'], {
      INVENTORY_PORT: String(port),
      INVENTORY_DATABASE_URL: (database.target as { url: string }).url,
      REDIS_URL: redisUrl!,
      EVENT_STREAM_PREFIX: prefix,
      LOG_LEVEL: 'warn',
    });
    await until(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null))?.status === 200, {
      timeoutMs: speed.scale(60_000),
      what: 'inventory ready',
    });
  };

  beforeAll(async () => {
    if (!redisUrl || !postgresAdminUrl) {
      expect(process.env.CI).not.toBe('true');
      return;
    }
    database = await createTestDatabase('consumer_crash_inventory');
    sql = postgres((database.target as { url: string }).url, { max: 2, onnotice: () => {} });
    streams = await openTestStreams(redisUrl);
    ({ redis, bus, prefix } = streams);
    port = (await freePorts(1))[0]!;
  }, speed.scale(120_000));

  afterAll(async () => {
    await inventory?.stop();
    await streams?.close();
    await sql?.end({ timeout: 5 });
    await database?.drop();
  });

  const count = async (query: Promise<Array<{ count: number }>>) => (await query)[0]!.count;
  const processed = () => count(sql`select count(*)::int as count from processed_events where consumer = 'inventory'`);

  it(
    'resumes on a new process and applies every event exactly once',
    async () => {
      if (!redisUrl || !postgresAdminUrl) return;
      // First start migrates and seeds; then every product gets ample stock.
      await start();
      const products = Array.from({ length: productCount }, (_, index) => seedProduct(index).id);
      await sql`update stock_levels set quantity = ${initialStock} where product_id in ${sql(products)}`;

      const ordered = new Map<string, number>();
      const events = Array.from({ length: eventCount }, (_, index) => {
        const orderId = randomUUID();
        const items = [0, 1].slice(0, 1 + (index % 2)).map((line) => ({
          productId: products[(index + line * 3) % productCount]!,
          quantity: 1 + ((index + line) % 4),
          unitPriceCents: 100,
        }));
        for (const item of items) ordered.set(item.productId, (ordered.get(item.productId) ?? 0) + item.quantity);
        return newEvent('OrderPlaced', orderId, {
          orderId,
          userId: seedUser(index % 10).id,
          items,
          totalCents: items.reduce((sum, item) => sum + item.quantity * 100, 0),
          currencyCode: 'USD',
        });
      });
      for (let offset = 0; offset < eventCount; offset += 200)
        await bus.publish('orders', events.slice(offset, offset + 200));

      // Kill it once it is well into the backlog, with deliveries in hand it has not acknowledged.
      await untilDone(processed, (handled) => handled >= eventCount / 5, { stallMs, what: 'events handled' });
      const killedPid = inventory!.child.pid;
      expect(await inventory!.stop('SIGKILL')).toBeNull();
      const atKill = await processed();
      expect(atKill).toBeLessThan(eventCount);
      const pending = await redis.xPending(`${prefix}:orders`, 'inventory');
      expect(pending.pending).toBeGreaterThan(0);
      // The consumer name subgraphs use is `<subgraph>-<hostname>-<pid>` (platform/src/subgraph/server.ts).
      expect((pending.consumers ?? []).map((consumer) => consumer.name)).toContain(
        `inventory-${hostname()}-${killedPid}`,
      );

      await start();
      await untilDone(processed, (handled) => handled === eventCount, { stallMs, what: 'events handled' });
      // Settled: nothing left pending in the group, nothing handled twice.
      await untilDone(
        async () => (await redis.xPending(`${prefix}:orders`, 'inventory')).pending,
        (pending) => pending === 0,
        { stallMs, what: 'deliveries not acknowledged' },
      );

      expect(await count(sql`select count(*)::int as count from reservations`)).toBe(eventCount);
      expect(await count(sql`select count(distinct order_id)::int as count from reservations`)).toBe(eventCount);
      expect(await count(sql`select count(*)::int as count from outbox where type = 'StockReserved'`)).toBe(eventCount);
      expect(
        await count(sql`select count(distinct aggregate_id)::int as count from outbox where type = 'StockReserved'`),
      ).toBe(eventCount);
      const stock = await sql<Array<{ product_id: string; quantity: number }>>`
      select product_id, quantity from stock_levels where product_id in ${sql(products)}`;
      for (const row of stock) expect(initialStock - row.quantity).toBe(ordered.get(row.product_id));
    },
    speed.scale(240_000),
  );
});
