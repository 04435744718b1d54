import { randomUUID } from 'node:crypto';
import { activeTraceparent } from '../tracing.ts';

/**
 * The event plumbing's contract. Subgraphs publish domain events through the
 * transactional outbox (outbox.ts) and consume them through an `EventBus`:
 * Redis Streams in production (redis-streams.ts), an in-process bus in the
 * embedded default (memory-bus.ts). Both deliver at least once, so consumers
 * deduplicate by event id (inbox.ts). Subscriptions to a stream's events as
 * they happen read it with `tail` instead (tail.ts): every reader gets every
 * event, with its position, from a position on.
 */

export interface DomainEvent<TPayload = unknown> {
  /** uuid, unique per event, the dedup key. */
  id: string;
  /** 'OrderPlaced', 'StockReserved', ... */
  type: string;
  /** The entity the event is about (order id, product id). */
  aggregateId: string;
  /** ISO-8601. */
  occurredAt: string;
  /** Travels as JSON: what JSON cannot carry (Dates, undefined, bigint) does not arrive as sent. */
  payload: TPayload;
  /**
   * The response-cache tags this event makes stale (`Product:<id>`,
   * `Query:products`; see invalidation.ts), computed from the payload by the
   * event's definition when it was recorded, so whoever caches purges
   * without knowing the event. Absent on envelopes recorded before events
   * carried tags: such an event says nothing about what it invalidates, and
   * purges nothing (router/src/plugins/response-cache/event-purge.ts).
   */
  invalidates?: string[];
  /**
   * The W3C `traceparent` of the request that recorded the event, when it
   * was traced: whoever acts on the event (a subscription's router) can
   * continue that trace, so a change and what it caused read as one.
   */
  traceparent?: string;
}

export interface EventHandlerContext {
  /** 1 on the first delivery; counts every delivery of this event to the group, whichever consumer got it. */
  attempt: number;
  stream: string;
}

export interface SubscribeOptions {
  stream: string;
  /** Consumers in one group share the work; every group gets every event. */
  group: string;
  /** Unique within the group, e.g. `${hostname}-${pid}`. */
  consumer: string;
  /**
   * Resolving acknowledges the event; throwing schedules a redelivery (to any
   * consumer of the group) after a backoff. Events reach a consumer in stream
   * order, except that a redelivered event comes after the ones that overtook it.
   */
  handle(event: DomainEvent, context: EventHandlerContext): Promise<void>;
  /** After this many failed deliveries the event goes to `<stream>.dead` with the reason. Default 5. */
  maxAttempts?: number;
  /** Events fetched per read. Default 10. */
  batchSize?: number;
  /** Longest wait for new events in one read; also bounds how late a due redelivery is noticed. Default 1000 ms. */
  blockMs?: number;
}

export interface Subscription {
  /**
   * Finishes the handler in flight, hands the rest of the fetched batch back
   * to the group unprocessed, and resolves once nothing more will be handled.
   */
  stop(): Promise<void>;
}

export interface TailOptions {
  stream: string;
  /**
   * Start after this position (an event's `position`): the events since then
   * are delivered first, then live ones, with no gap and no duplicate between
   * the two. Absent: live events only, from now on. A position the stream no
   * longer holds everything after (trimmed to its `maxLen`), or never reached
   * (the stream was recreated), ends the tail with a `TailGapError` as its
   * first result: what was missed is unknown. A position that is not one
   * (`<ms>-<n>`) makes `tail` throw an `InvalidPositionError` (a TypeError).
   */
  after?: string;
  /**
   * Longest wait for new events in one read (Redis XREAD BLOCK). The tails of
   * a stream share one read, which waits the shortest `blockMs` among them;
   * the in-process bus never waits on a read. Default 1000 ms.
   */
  blockMs?: number;
  /**
   * Live events held for a consumer slower than the stream, at most. One
   * more ends the tail with a `TailOverflowError` after the events held,
   * rather than memory growing with the consumer's lag. It must also hold a
   * burst: Redis hands a tail up to 1000 entries of one read at once.
   * Replayed events are read only as fast as the consumer takes them, so
   * they never overflow. Default 1000.
   */
  bufferSize?: number;
}

export interface TailedEvent {
  /**
   * Where the event is in its stream: a Redis stream entry id
   * (`1733400000000-0`), or the same shape from the in-process bus. Strictly
   * increasing along the stream; `after` it resumes the stream behind it.
   */
  position: string;
  event: DomainEvent;
}

/**
 * A stream read from a position: every event, in stream order, each once.
 * It ends (throws) with a `TailGapError` or `TailOverflowError` when it
 * cannot go on without a gap; Redis being away only pauses it.
 */
export interface EventTail extends AsyncIterable<TailedEvent> {
  /** Stops reading and drops the events held; the iterator ends. Breaking out of `for await` does the same. */
  close(): Promise<void>;
}

export interface EventBus {
  /** Appends `events` to `stream`, in order, all or none. Rejects when they may not have been stored. */
  publish(stream: string, events: readonly DomainEvent[]): Promise<void>;
  subscribe(options: SubscribeOptions): Subscription;
  /** A stream read from a position: every event, in order, each with its position. */
  tail(options: TailOptions): EventTail;
  /** Stream length, pending per group (lag), dead-letter length: for metrics. */
  stats(
    stream: string,
    group: string,
  ): Promise<{ length: number; pending: number; lag: number | null; deadLetters: number }>;
  /** Stops every subscription and tail and releases the bus's own resources. */
  close(): Promise<void>;
}

export type EventBusStats = Awaited<ReturnType<EventBus['stats']>>;

/** An event that exhausted its attempts, as kept in `<stream>.dead`. */
export interface DeadLetter {
  /** The event as published; `null` when the entry could not be read as an event. */
  event: DomainEvent | null;
  /** The last handler error's message, or why the event was never handled. */
  reason: string;
  /** Deliveries to the group when it gave up. */
  attempts: number;
  group: string;
  consumer: string;
  /** ISO-8601. */
  failedAt: string;
}

/** The dead-letter stream of `stream`. */
export function deadLetterStream(stream: string): string {
  return `${stream}.dead`;
}

/**
 * A new event about `aggregateId`, with a fresh id (the dedup key) and the
 * time it happened: now. Producers use their event's definition
 * (`defineEvent`), which checks the payload and adds the tags; this bare
 * form is for tests and tools that need an envelope as it is.
 */
export function newEvent<TPayload>(
  type: string,
  aggregateId: string,
  payload: TPayload,
  invalidates?: string[],
): DomainEvent<TPayload> {
  const event: DomainEvent<TPayload> = {
    id: randomUUID(),
    type,
    aggregateId,
    occurredAt: new Date().toISOString(),
    payload,
  };
  if (invalidates) event.invalidates = invalidates;
  const traceparent = activeTraceparent();
  if (traceparent) event.traceparent = traceparent;
  return event;
}
