import { and, inArray, lt } from 'drizzle-orm';
import { index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { Database, DrizzleSchema } from '../db/database.ts';
import type { DatabaseTransaction } from './outbox.ts';
import type { DomainEvent } from './types.ts';

/**
 * The inbox: which events each consumer has applied. Buses deliver at least
 * once, so a consumer records the event id in the transaction that applies
 * the event, and an event already recorded is skipped.
 *
 * A consuming subgraph exports `processedEvents` from its `src/db/schema.ts`.
 */
export const processedEvents = pgTable(
  'processed_events',
  {
    eventId: uuid('event_id').notNull(),
    /** Who applied it: one database may hold several consumers (a projection, a cache purge), each applying every event once. */
    consumer: text('consumer').notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ name: 'processed_events_pkey', columns: [table.eventId, table.consumer] }),
    // Forgetting old records (forgetProcessedEvents) finds them without scanning the rest.
    index('processed_events_processed_at_idx').on(table.processedAt),
  ],
);

/**
 * How long an applied event is remembered. A duplicate arrives within
 * minutes (a redelivery, a relay republishing after a crash); a week is the
 * outbox's own retention of published rows, so no event still relayable is
 * forgotten.
 */
export const processedEventsRetentionMs = 7 * 24 * 60 * 60 * 1_000;

/**
 * Deletes the records of events applied before `before`, a batch at a time
 * so no single statement holds locks for long. Resolves with how many went.
 */
export async function forgetProcessedEvents<TSchema extends DrizzleSchema>(
  db: Database<TSchema>,
  before: Date,
  batchSize = 1_000,
): Promise<number> {
  let forgotten = 0;
  for (;;) {
    const old = (db as Database<DrizzleSchema>)
      .select({ eventId: processedEvents.eventId })
      .from(processedEvents)
      .where(lt(processedEvents.processedAt, before))
      .limit(batchSize);
    const deleted = await (db as Database<DrizzleSchema>)
      .delete(processedEvents)
      .where(and(inArray(processedEvents.eventId, old), lt(processedEvents.processedAt, before)))
      .returning({ eventId: processedEvents.eventId });
    forgotten += deleted.length;
    if (deleted.length < batchSize) return forgotten;
  }
}

/**
 * Runs `effect` and records `event` as processed by `consumer`, in one
 * transaction, unless it was recorded before. Resolves with whether the
 * effect ran. If `effect` throws, nothing is recorded and the error is
 * rethrown, so the bus redelivers.
 *
 * The record is inserted first (`ON CONFLICT DO NOTHING RETURNING`): a
 * concurrent duplicate's insert waits on the first one's row lock, and once
 * that commits it inserts nothing and skips; if it rolls back instead, the
 * duplicate applies the event. Either way the effect runs once.
 */
export async function handleOnce<TSchema extends DrizzleSchema>(
  db: Database<TSchema>,
  consumer: string,
  event: DomainEvent,
  effect: (tx: DatabaseTransaction<TSchema>) => Promise<void>,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const claimed = await tx
      .insert(processedEvents)
      .values({ eventId: event.id, consumer })
      .onConflictDoNothing()
      .returning({ eventId: processedEvents.eventId });
    if (claimed.length === 0) return false;
    await effect(tx);
    return true;
  });
}
