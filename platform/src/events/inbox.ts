import { pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
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
  (table) => [primaryKey({ name: 'processed_events_pkey', columns: [table.eventId, table.consumer] })],
);

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
