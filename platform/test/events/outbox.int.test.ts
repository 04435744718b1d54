import { isNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import {
  defineEvent,
  entityTag,
  MemoryBus,
  OutboxRelay,
  outbox,
  processedEvents,
  recordEvents,
  type DomainEvent,
} from '../../src/events/index.ts';
import { createTables, domainEvent, logger, uniqueStream } from './support.ts';
import { until } from '../../../test/support/until.ts';

/**
 * The outbox relay's statements on the embedded database: SKIP LOCKED, the
 * unpublished age, pruning and JSON payloads. Many relays at once through a
 * crashing bus, on real Postgres and Redis, are in outbox-relays.soak.test.ts.
 */

const schema = { outbox, processedEvents };
type Handle = DatabaseHandle<typeof schema>;

const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('outbox relay on PGlite', () => {
  let handle: Handle;
  beforeAll(async () => {
    handle = await openDatabase({ kind: 'pglite', dataDir: null }, schema);
    cleanups.push(() => handle.close());
    await createTables(handle.db, schema);
  });

  it('accepts FOR UPDATE SKIP LOCKED and publishes everything once, with two relays taking turns', async () => {
    const bus = new MemoryBus({ logger });
    const stream = uniqueStream('pglite');
    const published: DomainEvent[] = [];
    const counting = {
      async publish(target: string, events: readonly DomainEvent[]) {
        await bus.publish(target, events);
        published.push(...events);
      },
    };
    const recorded = Array.from({ length: 120 }, (_, index) => domainEvent('Tested', { index }));
    await handle.db.transaction((tx) => recordEvents(tx, stream, recorded));
    const relays = [0, 1].map(() => new OutboxRelay({ db: handle.db, bus: counting, logger, batchSize: 25 }));

    const counts = await Promise.all(relays.map((relay) => relay.relayOnce()));
    expect(counts).toEqual([25, 25]);
    while ((await relays[0]!.relayOnce()) > 0);
    expect(published.map((event) => event.id)).toEqual(recorded.map((event) => event.id));
    expect(published[7]).toEqual(recorded[7]);
    expect(await relays[1]!.relayOnce()).toBe(0);
  });

  it('reports the age of the oldest unpublished row, and prunes only old published rows', async () => {
    const stream = uniqueStream('age');
    const relay = new OutboxRelay({ db: handle.db, bus: new MemoryBus({ logger }), logger, retainPublishedMs: 0 });
    while ((await relay.relayOnce()) > 0);
    expect(await relay.oldestUnpublishedAgeSeconds()).toBe(0);

    const old = { ...domainEvent('Old'), occurredAt: new Date(Date.now() - 60_000).toISOString() };
    await recordEvents(handle.db, stream, [old]);
    const age = await relay.oldestUnpublishedAgeSeconds();
    expect(age).toBeGreaterThan(55);
    expect(age).toBeLessThan(65);

    // Nothing unpublished is ever pruned; published rows past retention are.
    expect(await relay.pruneOnce()).toBeGreaterThan(0);
    const [kept] = await handle.db.select({ id: outbox.id }).from(outbox);
    expect(kept?.id).toBe(old.id);
    expect(await relay.relayOnce()).toBe(1);
    expect(await relay.pruneOnce()).toBe(1);
    expect(await handle.db.select().from(outbox)).toEqual([]);
  });

  it('prunes every published row past retention at once, not one batch of them a minute', async () => {
    const stream = uniqueStream('prune');
    const bus = new MemoryBus({ logger });
    const drain = new OutboxRelay({ db: handle.db, bus, logger, retainPublishedMs: null });
    while ((await drain.relayOnce()) > 0);
    // More than two of the relay's delete batches (1,000 rows), published eight days ago.
    await recordEvents(
      handle.db,
      stream,
      Array.from({ length: 2_500 }, (_, index) => domainEvent('Old', { index })),
    );
    while ((await drain.relayOnce()) > 0);
    await handle.db.execute(sql`update ${outbox} set published_at = now() - interval '8 days'`);

    const relay = new OutboxRelay({ db: handle.db, bus, logger, maxPollIntervalMs: 50 });
    relay.start();
    try {
      // Well inside the minute after which a relay that pruned one batch per interval would delete its second.
      await until(async () => (await handle.db.select({ id: outbox.id }).from(outbox)).length === 0, {
        what: 'the relay to prune all 2,500 old rows',
        timeoutMs: 30_000,
      });
    } finally {
      await relay.stop();
    }
  });

  it('stores payloads as JSON, null included, and refuses an occurredAt that is not a date', async () => {
    const stream = uniqueStream('payload');
    const withNull = { ...domainEvent('Nothing'), payload: null };
    const nested = domainEvent('Nested', { items: [{ sku: 'A-1', quantity: 2 }], note: 'ü' });
    await recordEvents(handle.db, stream, [withNull, nested]);
    const rows = await handle.db
      .select({ id: outbox.id, payload: outbox.payload, sku: sql<string>`${outbox.payload}->'items'->0->>'sku'` })
      .from(outbox)
      .where(isNull(outbox.publishedAt));
    expect(rows).toEqual(
      expect.arrayContaining([
        { id: withNull.id, payload: null, sku: null },
        { id: nested.id, payload: nested.payload, sku: 'A-1' },
      ]),
    );
    await expect(recordEvents(handle.db, stream, [{ ...domainEvent('Bad'), occurredAt: 'yesterday' }])).rejects.toThrow(
      /occurredAt/,
    );
    await expect(recordEvents(handle.db, stream, [])).resolves.toBeUndefined();
  });

  it('carries the tags a definition computed from the outbox row to the stream, and none for a row without them', async () => {
    const stream = uniqueStream('tags');
    const shelved = defineEvent({
      type: 'Shelved',
      stream,
      schema: z.object({ sku: z.string(), shelf: z.string() }),
      invalidates: ({ sku, shelf }) => [entityTag('Item', sku), entityTag('Shelf', shelf), entityTag('Item', sku)],
    });
    const recorded = await handle.db.transaction((tx) => shelved.record(tx, 'A-1', { sku: 'A-1', shelf: 'top' }));
    expect(recorded.invalidates).toEqual(['Item:A-1', 'Shelf:top']);
    // As a row recorded before events carried tags: the column is null.
    const untagged = domainEvent('Shelved', { sku: 'B-2', shelf: 'low' });
    await recordEvents(handle.db, stream, [untagged]);

    const bus = new MemoryBus({ logger });
    cleanups.push(() => bus.close());
    const received: DomainEvent[] = [];
    const subscription = bus.subscribe({
      stream,
      group: 'g',
      consumer: 'c',
      blockMs: 50,
      handle: async (event) => {
        received.push(event);
      },
    });
    cleanups.push(() => subscription.stop());
    const relay = new OutboxRelay({ db: handle.db, bus, logger });
    while ((await relay.relayOnce()) > 0);
    await until(() => received.length === 2, { what: 'both events delivered' });
    expect(received.find((event) => event.id === recorded.id)).toMatchObject({
      type: 'Shelved',
      payload: { sku: 'A-1', shelf: 'top' },
      invalidates: ['Item:A-1', 'Shelf:top'],
    });
    expect(received.find((event) => event.id === untagged.id)).not.toHaveProperty('invalidates');
  });
});
