import { setTimeout as sleep } from 'node:timers/promises';
import { count, eq, inArray, sql } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import {
  forgetProcessedEvents,
  handleOnce,
  processedEvents,
  type DatabaseTransaction,
} from '../../src/events/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/databases.ts';
import { createTables, domainEvent } from './support.ts';

/**
 * The inbox on a real Postgres (PGlite outside CI when there is none): an
 * event delivered several times, even at the same moment, is applied once
 * per consumer.
 */

const counters = pgTable('counters', {
  name: text('name').primaryKey(),
  value: integer('value').notNull(),
});
const schema = { processedEvents, counters };

let database: TestDatabase;
let handle: DatabaseHandle<typeof schema>;

beforeAll(async () => {
  database = await createTestDatabase('events_inbox');
  handle = await openDatabase(database.target, schema);
  await createTables(handle.db, schema);
});

afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

/** The effect under test: bumps a counter, slowly, so concurrent deliveries overlap inside it. */
function bump(name: string) {
  return async (tx: DatabaseTransaction<typeof schema>) => {
    await tx
      .insert(counters)
      .values({ name, value: 1 })
      .onConflictDoUpdate({ target: counters.name, set: { value: sql`${counters.value} + 1` } });
    await sleep(50);
  };
}

async function counter(name: string): Promise<number> {
  const [row] = await handle.db.select({ value: counters.value }).from(counters).where(eq(counters.name, name));
  return row?.value ?? 0;
}

describe('handleOnce', () => {
  it('applies an event delivered many times at once exactly once', async () => {
    const event = domainEvent('StockReserved');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => handleOnce(handle.db, 'inventory', event, bump('concurrent'))),
    );

    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await counter('concurrent')).toBe(1);
    // A later redelivery is skipped too, without running the effect.
    let ran = false;
    expect(
      await handleOnce(handle.db, 'inventory', event, async () => {
        ran = true;
      }),
    ).toBe(false);
    expect(ran).toBe(false);
  });

  it('records nothing when the effect fails, so the redelivery applies it', async () => {
    const event = domainEvent('OrderPlaced');
    await expect(
      handleOnce(handle.db, 'orders', event, async (tx) => {
        await bump('failing')(tx);
        throw new Error('deadlock detected');
      }),
    ).rejects.toThrow('deadlock detected');
    expect(await counter('failing')).toBe(0);

    expect(await handleOnce(handle.db, 'orders', event, bump('failing'))).toBe(true);
    expect(await counter('failing')).toBe(1);
  });

  it('lets a duplicate that raced a failing first delivery apply the event', async () => {
    const event = domainEvent('OrderPlaced');
    let claimed!: () => void;
    const firstHoldsTheRow = new Promise<void>((resolve) => (claimed = resolve));
    let fail!: () => void;
    const failNow = new Promise<void>((resolve) => (fail = resolve));
    const first = handleOnce(handle.db, 'race', event, async (tx) => {
      await bump('raced')(tx);
      claimed();
      await failNow;
      throw new Error('first delivery fails after its insert');
    });
    // Starts while the first holds the inbox row (its effect runs after the insert); proceeds once that rolls back.
    await firstHoldsTheRow;
    const second = handleOnce(handle.db, 'race', event, bump('raced'));
    await sleep(20);
    fail();

    await expect(first).rejects.toThrow('first delivery fails');
    expect(await second).toBe(true);
    expect(await counter('raced')).toBe(1);
  });

  it('keeps consumers apart: each applies the same event once', async () => {
    const event = domainEvent('ReviewAdded');
    const results = await Promise.all([
      handleOnce(handle.db, 'rating-projection', event, bump('projection')),
      handleOnce(handle.db, 'cache-purge', event, bump('purge')),
      handleOnce(handle.db, 'rating-projection', event, bump('projection')),
    ]);

    expect(results.filter(Boolean)).toHaveLength(2);
    expect([await counter('projection'), await counter('purge')]).toEqual([1, 1]);
    const [recorded] = await handle.db
      .select({ n: count() })
      .from(processedEvents)
      .where(eq(processedEvents.eventId, event.id));
    expect(recorded!.n).toBe(2);
  });
});

describe('forgetProcessedEvents', () => {
  it('forgets only records older than the cut-off, across batches, for every consumer', async () => {
    const old = Array.from({ length: 25 }, () => domainEvent('OrderPlaced'));
    const recent = Array.from({ length: 5 }, () => domainEvent('OrderPlaced'));
    for (const event of [...old, ...recent]) {
      await handleOnce(handle.db, 'forget-a', event, async () => {});
      await handleOnce(handle.db, 'forget-b', event, async () => {});
    }
    await handle.db
      .update(processedEvents)
      .set({ processedAt: new Date(Date.now() - 8 * 24 * 60 * 60 * 1_000) })
      .where(
        inArray(
          processedEvents.eventId,
          old.map((event) => event.id),
        ),
      );

    // A batch of 4 takes several rounds: the loop must not stop after the first.
    const forgotten = await forgetProcessedEvents(handle.db, new Date(Date.now() - 7 * 24 * 60 * 60 * 1_000), 4);

    expect(forgotten).toBe(old.length * 2);
    const left = await handle.db
      .select({ eventId: processedEvents.eventId })
      .from(processedEvents)
      .where(
        inArray(
          processedEvents.eventId,
          [...old, ...recent].map((event) => event.id),
        ),
      );
    expect(new Set(left.map((row) => row.eventId))).toEqual(new Set(recent.map((event) => event.id)));
    expect(left).toHaveLength(recent.length * 2);
  });
});
