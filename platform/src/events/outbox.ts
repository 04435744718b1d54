import { and, asc, inArray, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { Database, DrizzleSchema } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { errorMessage, pause } from './consumer.ts';
import { noteRecordedEvents } from './recorded.ts';
import type { DomainEvent, EventBus } from './types.ts';

/**
 * The transactional outbox: a subgraph records its events in its own
 * database, in the transaction that makes the change they describe, and
 * `OutboxRelay` publishes them afterwards. An event therefore exists if and
 * only if its change committed, and it reaches the bus at least once, even
 * across crashes and Redis outages.
 *
 * Each subgraph exports `outbox` from its `src/db/schema.ts`, so drizzle-kit
 * writes the table into that subgraph's migrations.
 */
export const outbox = pgTable(
  'outbox',
  {
    /** The event's id: a republished row carries the same id, which is what consumers dedupe on. */
    id: uuid('id').primaryKey(),
    stream: text('stream').notNull(),
    type: text('type').notNull(),
    aggregateId: text('aggregate_id').notNull(),
    payload: jsonb('payload').notNull(),
    /** The response-cache tags the event makes stale; null on rows recorded before events carried them. */
    invalidates: jsonb('invalidates').$type<string[]>(),
    /** The recording request's W3C trace context (DomainEvent.traceparent); null when it was not traced. */
    traceparent: text('traceparent'),
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 3 }).notNull(),
    publishedAt: timestamp('published_at', { withTimezone: true, precision: 3 }),
    /**
     * Insertion order. Events of one transaction usually share their `occurredAt`
     * millisecond; this keeps them in the order they were recorded.
     */
    position: bigint('position', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
  },
  (table) => [
    // The relay's queue and the age metric read only unpublished rows: a small index
    // however large the published history grows.
    index('outbox_unpublished_occurred_at_idx')
      .on(table.occurredAt, table.position)
      .where(sql`${table.publishedAt} is null`),
    // Pruning finds old published rows without scanning the rest.
    index('outbox_published_at_idx')
      .on(table.publishedAt)
      .where(sql`${table.publishedAt} is not null`),
  ],
);

export type OutboxRow = typeof outbox.$inferSelect;

/** The transaction drizzle hands to `db.transaction(async (tx) => ...)` for a database of `TSchema`. */
export type DatabaseTransaction<TSchema extends DrizzleSchema> = Parameters<
  Parameters<Database<TSchema>['transaction']>[0]
>[0];

/**
 * Records `events` for `stream` in `tx`, the caller's transaction: they are
 * published if and only if it commits. Call it in the same transaction as the
 * write the events describe. Subgraphs record through their events'
 * definitions (`definition.record`, define.ts), which check the payload and
 * add the tags; this is the plumbing beneath, for tools and tests.
 */
export async function recordEvents<TSchema extends DrizzleSchema>(
  tx: DatabaseTransaction<TSchema> | Database<TSchema>,
  stream: string,
  events: readonly DomainEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((event) => {
    const occurredAt = new Date(event.occurredAt);
    if (Number.isNaN(occurredAt.getTime())) {
      throw new TypeError(`event ${event.id}: occurredAt is not a date: ${JSON.stringify(event.occurredAt)}`);
    }
    return {
      id: event.id,
      stream,
      type: event.type,
      aggregateId: event.aggregateId,
      // A JS null would be SQL NULL; the payload null is JSON's null.
      payload: event.payload ?? sql`'null'::jsonb`,
      invalidates: event.invalidates ?? null,
      traceparent: event.traceparent ?? null,
      occurredAt,
    };
  });
  // Both branches of the union can insert; TypeScript cannot unify their overloads.
  await (tx as Database<TSchema>).insert(outbox).values(rows);
  // Reported with a mutation's answer too (recorded.ts), so caches drop what it changed before the caller reads again.
  noteRecordedEvents(events);
}

export interface OutboxRelayOptions {
  /** The subgraph's database, whose schema includes `outbox`. */
  db: Database<DrizzleSchema>;
  bus: Pick<EventBus, 'publish'>;
  logger: Logger;
  /** Rows published per transaction. Default: 100. */
  batchSize?: number;
  /** Wait after a poll that found nothing; doubles while the outbox stays empty. Default: 50 ms. */
  minPollIntervalMs?: number;
  /** Longest wait between polls, when idle or while publishing fails. Default: 1,000 ms. */
  maxPollIntervalMs?: number;
  /** Published rows are deleted after this long; `null` keeps them forever. Default: 7 days. */
  retainPublishedMs?: number | null;
}

/** At most one "still failing" log line per this interval. */
const failureLogIntervalMs = 10_000;
/** How often the relay prunes published rows, and at most how many one statement deletes. */
const pruneIntervalMs = 60_000;
const pruneBatchSize = 1_000;
/**
 * Longest a prune keeps deleting batches before the relay polls again: it
 * deletes until a batch comes back short, so pruning keeps pace with any
 * write rate, but a large backlog (a retention just shortened) delays new
 * events by at most this much per poll and is worked off over several.
 */
const pruneBudgetMs = 250;

/**
 * Publishes what `recordEvents` recorded. Each batch is one transaction: lock
 * the oldest unpublished rows (`FOR UPDATE SKIP LOCKED`, so concurrent relays
 * take disjoint batches and none waits for another), publish them, mark them
 * published, commit. A relay that dies after publishing and before committing
 * leaves its rows unpublished, and they are published again: at least once,
 * never lost. Consumers dedupe by event id (`handleOnce`).
 *
 * Events of one stream are published in `occurred_at` order, then in the
 * order they were recorded; across concurrent relays order is not guaranteed.
 *
 * On PGlite the same code runs: PGlite accepts `SKIP LOCKED`, and as it runs
 * one transaction at a time, relays sharing it simply take turns.
 */
export class OutboxRelay {
  private readonly db: Database<DrizzleSchema>;
  private readonly bus: Pick<EventBus, 'publish'>;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly minPollIntervalMs: number;
  private readonly maxPollIntervalMs: number;
  private readonly retainPublishedMs: number | null;
  private running: Promise<void> | null = null;
  private stopping = new AbortController();
  /** Aborting it ends the current wait between polls. */
  private waiting = new AbortController();
  /** When the next prune is due; a prune that ran out of budget with rows left is due again at once. */
  private nextPruneAt = 0;

  constructor({
    db,
    bus,
    logger,
    batchSize = 100,
    minPollIntervalMs = 50,
    maxPollIntervalMs = 1_000,
    retainPublishedMs = 7 * 24 * 60 * 60 * 1_000,
  }: OutboxRelayOptions) {
    this.db = db;
    this.bus = bus;
    this.logger = logger.child({ component: 'outbox-relay' });
    this.batchSize = batchSize;
    this.minPollIntervalMs = minPollIntervalMs;
    this.maxPollIntervalMs = maxPollIntervalMs;
    this.retainPublishedMs = retainPublishedMs;
  }

  /** Starts polling in the background. Failures are logged and retried, never thrown. */
  start(): void {
    if (this.running) return;
    this.stopping = new AbortController();
    this.running = this.loop();
  }

  /** Ends polling after the batch in flight. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.waiting.abort();
    await this.running;
    this.running = null;
  }

  /** Polls now instead of after the current wait: call it after committing events to publish them sooner. */
  wake(): void {
    this.waiting.abort();
  }

  /** Publishes one batch of unpublished rows; resolves with how many. */
  async relayOnce(): Promise<number> {
    return this.db.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(outbox)
        .where(isNull(outbox.publishedAt))
        .orderBy(asc(outbox.occurredAt), asc(outbox.position))
        .limit(this.batchSize)
        .for('update', { skipLocked: true });
      if (rows.length === 0) return 0;
      for (const [stream, events] of byStream(rows)) await this.bus.publish(stream, events);
      // A failure from here to commit republishes the batch later: duplicates, never losses.
      await tx
        .update(outbox)
        .set({ publishedAt: sql`now()` })
        .where(
          inArray(
            outbox.id,
            rows.map((row) => row.id),
          ),
        );
      return rows.length;
    });
  }

  /** Age of the oldest unpublished row, in seconds; 0 when everything is published. */
  oldestUnpublishedAgeSeconds(): Promise<number> {
    return oldestUnpublishedAgeSeconds(this.db);
  }

  /** Deletes up to a batch of rows published longer than `retainPublishedMs` ago; resolves with how many. */
  async pruneOnce(): Promise<number> {
    if (this.retainPublishedMs === null) return 0;
    const cutoff = new Date(Date.now() - this.retainPublishedMs);
    const old = this.db
      .select({ id: outbox.id })
      .from(outbox)
      .where(and(isNotNull(outbox.publishedAt), lt(outbox.publishedAt, cutoff)))
      .limit(pruneBatchSize);
    const deleted = await this.db.delete(outbox).where(inArray(outbox.id, old)).returning({ id: outbox.id });
    return deleted.length;
  }

  private async loop(): Promise<void> {
    let interval = this.minPollIntervalMs;
    let failures = 0;
    let lastFailureLog = 0;
    while (!this.stopping.signal.aborted) {
      let relayed: number;
      try {
        relayed = await this.relayOnce();
        if (failures > 0) this.logger.info('outbox relay: publishing again');
        failures = 0;
      } catch (error) {
        const now = Date.now();
        if (failures === 0 || now - lastFailureLog > failureLogIntervalMs) {
          this.logger.warn({ err: error }, `outbox relay: publishing failed (${errorMessage(error)}); retrying`);
          lastFailureLog = now;
        }
        failures++;
        relayed = 0;
      }
      // A full batch means more may be waiting: go again at once.
      if (relayed >= this.batchSize) {
        interval = this.minPollIntervalMs;
        continue;
      }
      if (relayed > 0) interval = this.minPollIntervalMs;
      // Also after polls that published: under a steady write rate the relay is never idle, and its rows must still go.
      if (failures === 0) await this.pruneIfDue();
      await this.pause(interval);
      if (relayed === 0) interval = Math.min(interval * 2, this.maxPollIntervalMs);
    }
  }

  private async pruneIfDue(): Promise<void> {
    if (this.retainPublishedMs === null || Date.now() < this.nextPruneAt) return;
    const started = Date.now();
    let pruned = 0;
    try {
      let batch: number;
      do {
        batch = await this.pruneOnce();
        pruned += batch;
      } while (batch === pruneBatchSize && Date.now() - started < pruneBudgetMs && !this.stopping.signal.aborted);
      this.nextPruneAt = batch === pruneBatchSize ? 0 : Date.now() + pruneIntervalMs;
    } catch (error) {
      this.nextPruneAt = Date.now() + pruneIntervalMs;
      this.logger.warn({ err: error }, 'outbox relay: pruning failed');
    }
    if (pruned > 0) this.logger.debug({ pruned }, 'outbox relay: pruned published rows');
  }

  /** Waits `ms`, or not at all if `wake()` was called since the last wait began. */
  private async pause(ms: number): Promise<void> {
    if (!this.waiting.signal.aborted) await pause(ms, AbortSignal.any([this.waiting.signal, this.stopping.signal]));
    this.waiting = new AbortController();
  }
}

/** Rows grouped by stream, each group in row order, streams in order of first appearance. */
function byStream(rows: readonly OutboxRow[]): Map<string, DomainEvent[]> {
  const streams = new Map<string, DomainEvent[]>();
  for (const row of rows) {
    const events = streams.get(row.stream) ?? [];
    const event: DomainEvent = {
      id: row.id,
      type: row.type,
      aggregateId: row.aggregateId,
      occurredAt: row.occurredAt.toISOString(),
      payload: row.payload,
    };
    if (row.invalidates) event.invalidates = row.invalidates;
    if (row.traceparent) event.traceparent = row.traceparent;
    events.push(event);
    streams.set(row.stream, events);
  }
  return streams;
}

/**
 * Seconds since the oldest event still unpublished in `db`'s outbox was
 * recorded; 0 when every event is published. Read with or without a relay
 * running: without one, this is how long events have waited.
 */
export async function oldestUnpublishedAgeSeconds(db: Database<DrizzleSchema>): Promise<number> {
  const [row] = await db
    .select({ age: sql<number | null>`extract(epoch from now() - min(${outbox.occurredAt}))::float8` })
    .from(outbox)
    .where(isNull(outbox.publishedAt));
  // An event stamped by a clock ahead of the database's would have a negative age.
  return Math.max(0, Number(row?.age ?? 0));
}
