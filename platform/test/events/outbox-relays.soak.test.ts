import { count, countDistinct, isNull } from 'drizzle-orm';
import { pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { createClient } from 'redis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { RedisClient } from '../../src/cache/redis.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import {
  MemoryBus,
  OutboxRelay,
  RedisStreamsBus,
  handleOnce,
  outbox,
  processedEvents,
  recordEvents,
  type DomainEvent,
  type EventBus,
  type Subscription,
} from '../../src/events/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/databases.ts';
import { until } from '../../../test/support/until.ts';
import { createTables, domainEvent, logger, uniqueStream } from './support.ts';

/**
 * The outbox end to end: events recorded in the transactions of their
 * changes, several relays publishing concurrently through a bus that
 * sometimes fails after publishing (a relay crashing before its commit), and
 * consumers applying each event once through the inbox.
 */

/** What the consumer's effect writes, deliberately without a unique key: duplicates would show. */
const applied = pgTable('applied', {
  eventId: uuid('event_id').notNull(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).notNull().defaultNow(),
});
const schema = { outbox, processedEvents, applied };
type Handle = DatabaseHandle<typeof schema>;

const redisUrl = inject('redisUrl');
const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * `open()` gives a new pool each time, as separate processes would have. On
 * the PGlite fallback (no Postgres, outside CI only) every in-memory open is a
 * different database, so all share one handle there.
 */
async function database(label: string): Promise<{ open(): Promise<Handle> }> {
  const created: TestDatabase = await createTestDatabase(label);
  cleanups.push(() => created.drop());
  let shared: Handle | null = null;
  const open = async () => {
    if (shared) return shared;
    const handle = await openDatabase(created.target, schema);
    cleanups.push(() => handle.close());
    if (created.target.kind === 'pglite') shared = handle;
    return handle;
  };
  return { open };
}

/**
 * Publishes through `bus`, and on every `failEvery`th call throws after the
 * events went out: the relay's transaction rolls back and they go out again.
 */
function crashingAfterPublish(bus: EventBus, failEvery: number, published: string[]) {
  let calls = 0;
  return {
    async publish(stream: string, events: readonly DomainEvent[]) {
      await bus.publish(stream, events);
      published.push(...events.map((event) => event.id));
      if (++calls % failEvery === 0) throw new Error('relay crashed before committing');
    },
  };
}

const buses: Array<{ name: string; open(): Promise<EventBus> }> = [
  { name: 'memory bus', open: async () => new MemoryBus({ logger, retryDelayMs: 20 }) },
  {
    name: 'redis streams bus',
    async open() {
      // Needs a real Redis: without redis-server this case fails rather than skips.
      if (redisUrl === null) throw new Error('needs redis-server on PATH (.ci/run installs it)');
      const redis: RedisClient = createClient({ url: redisUrl });
      redis.on('error', () => {});
      await redis.connect();
      cleanups.push(() => redis.close());
      return new RedisStreamsBus({ redis, logger, retryDelayMs: 20, claimIntervalMs: 100 });
    },
  },
];

describe.each(buses)('outbox relay on the test database (Postgres), through the $name', ({ open }) => {
  it('three concurrent relays publish 2,000 events at least once; the inbox applies each exactly once', async () => {
    const { open: openDb } = await database('events_outbox');
    const writer = await openDb();
    await createTables(writer.db, schema);
    const bus = await open();
    cleanups.push(() => bus.close());
    const stream = uniqueStream('orders');

    // Consumers: two instances of one group, applying through the inbox.
    const consumerDb = await openDb();
    const subscriptions: Subscription[] = ['a', 'b'].map((consumer) =>
      bus.subscribe({
        stream,
        group: 'projection',
        consumer,
        batchSize: 50,
        blockMs: 200,
        handle: async (event) => {
          await handleOnce(consumerDb.db, 'projection', event, async (tx) => {
            await tx.insert(applied).values({ eventId: event.id });
          });
        },
      }),
    );
    cleanups.push(() => Promise.all(subscriptions.map((subscription) => subscription.stop())));

    // Three relays, each on its own pool as three processes would be, started before the writes.
    const publishedBy: string[][] = [[], [], []];
    const relays = await Promise.all(
      publishedBy.map(async (mine) => {
        const relayDb = await openDb();
        return new OutboxRelay({
          db: relayDb.db,
          bus: crashingAfterPublish(bus, 7, mine),
          logger,
          batchSize: 50,
          maxPollIntervalMs: 100,
        });
      }),
    );
    for (const relay of relays) relay.start();
    cleanups.push(() => Promise.all(relays.map((relay) => relay.stop())));

    // 200 transactions of 10 events each, 8 at a time, while the relays run.
    const recorded: string[] = [];
    const transactions = Array.from({ length: 200 }, () =>
      Array.from({ length: 10 }, () => domainEvent('OrderPlaced', { total: 100 })),
    );
    for (let index = 0; index < transactions.length; index += 8) {
      await Promise.all(
        transactions.slice(index, index + 8).map((batch) =>
          writer.db.transaction(async (tx) => {
            await recordEvents(tx, stream, batch);
            recorded.push(...batch.map((event) => event.id));
          }),
        ),
      );
    }
    // An event whose transaction rolls back never existed.
    const ghost = domainEvent('OrderPlaced', { ghost: true });
    await expect(
      writer.db.transaction(async (tx) => {
        await recordEvents(tx, stream, [ghost]);
        throw new Error('order rejected');
      }),
    ).rejects.toThrow('order rejected');
    expect(recorded).toHaveLength(2_000);

    await until(
      async () => {
        const [row] = await writer.db.select({ n: count() }).from(outbox).where(isNull(outbox.publishedAt));
        return row!.n === 0;
      },
      { what: 'every outbox row published', timeoutMs: 30_000 },
    );
    await until(
      async () => {
        const [row] = await writer.db.select({ n: count() }).from(applied);
        return row!.n >= 2_000;
      },
      { what: '2,000 events applied', timeoutMs: 30_000 },
    );
    // The duplicates too must have reached the consumers before counting what they applied.
    await until(
      async () => {
        const { pending, lag } = await bus.stats(stream, 'projection');
        return pending === 0 && lag === 0;
      },
      { what: 'every delivery handled' },
    );

    // Every event published at least once, some more than once (the crashes), the ghost never;
    // and SKIP LOCKED let all three relays work at once.
    expect(publishedBy.map((mine) => mine.length > 0)).toEqual([true, true, true]);
    const published = publishedBy.flat();
    expect(new Set(published)).toEqual(new Set(recorded));
    expect(published.length).toBeGreaterThan(2_000);
    expect(published).not.toContain(ghost.id);
    // ...and applied exactly once.
    const [totals] = await writer.db.select({ rows: count(), distinct: countDistinct(applied.eventId) }).from(applied);
    expect(totals).toEqual({ rows: 2_000, distinct: 2_000 });
    const [processed] = await writer.db.select({ n: count() }).from(processedEvents);
    expect(processed!.n).toBe(2_000);
    const [outboxRows] = await writer.db.select({ n: count() }).from(outbox);
    expect(outboxRows!.n).toBe(2_000);
    expect(await relays[0]!.oldestUnpublishedAgeSeconds()).toBe(0);
  });
});
