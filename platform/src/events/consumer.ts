import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.ts';
import type { EntryFields } from './codec.ts';
import type { DomainEvent, SubscribeOptions, Subscription } from './types.ts';

/**
 * The consumer loop both buses share, so that redelivery, dead-lettering
 * and stopping behave identically whatever stores the stream. A bus
 * supplies a `GroupReader` over its storage; this file decides what
 * happens to each delivery.
 */

/** One delivery of one stream entry to this consumer. */
export interface Delivery {
  /** The bus's id for the entry (a Redis stream entry id). */
  entryId: string;
  /** The entry as stored; a dead letter keeps them as they were. */
  fields: EntryFields;
  /** The event, or why the entry could not be read as one: such an entry goes straight to the dead letters. */
  event: DomainEvent | Error;
  /** Deliveries of this entry to the group so far, this one included. */
  attempt: number;
}

/** What a bus does for one subscription. Every method may reject, e.g. while Redis is away. */
export interface GroupReader {
  /**
   * The next deliveries: redeliveries that are due first, then new entries,
   * at most `batchSize`. Waits up to `blockMs` when there are none, and
   * returns early (possibly empty) once `signal` aborts.
   */
  read(batchSize: number, blockMs: number, signal: AbortSignal): Promise<Delivery[]>;
  ack(delivery: Delivery): Promise<void>;
  /** Leaves the entry pending, to be redelivered to any consumer of the group after `delayMs`. */
  retryLater(delivery: Delivery, delayMs: number): Promise<void>;
  /** Appends the entry with `reason` to the dead-letter stream and acknowledges it, together. */
  deadLetter(delivery: Delivery, reason: string): Promise<void>;
  /** Hands deliveries that were never handled back to the group, as if they had not been delivered. */
  release(deliveries: readonly Delivery[]): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerTiming {
  /** Redelivery delay after the first failure; doubles with each further failure. */
  retryDelayMs: number;
  /** Longest redelivery delay. */
  maxRetryDelayMs: number;
}

export const subscribeDefaults = { maxAttempts: 5, batchSize: 10, blockMs: 1_000 } as const;

/** Longest pause after the bus fails (e.g. Redis is down) before trying again. */
const maxErrorBackoffMs = 2_000;
/** At most one "still failing" log line per this interval per subscription. */
const failureLogIntervalMs = 10_000;

export function retryDelay(attempt: number, timing: ConsumerTiming): number {
  return Math.min(timing.retryDelayMs * 2 ** Math.max(0, attempt - 1), timing.maxRetryDelayMs);
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/**
 * `subscription`, kept in `active` until it is stopped: a bus stops whatever
 * is still in it when it closes.
 */
export function trackedIn(active: Set<Subscription>, subscription: Subscription): Subscription {
  const tracked: Subscription = {
    stop: async () => {
      await subscription.stop();
      active.delete(tracked);
    },
  };
  active.add(tracked);
  return tracked;
}

/** Runs `options.handle` over what `reader` delivers until stopped; failures of the bus itself are retried with backoff, never thrown. */
export function runSubscription(
  reader: GroupReader,
  options: SubscribeOptions,
  timing: ConsumerTiming,
  logger: Logger,
): Subscription {
  const { stream, group, consumer, handle } = options;
  const maxAttempts = options.maxAttempts ?? subscribeDefaults.maxAttempts;
  const batchSize = options.batchSize ?? subscribeDefaults.batchSize;
  const blockMs = options.blockMs ?? subscribeDefaults.blockMs;
  const log = logger.child({ stream, group, consumer });
  const stopping = new AbortController();

  let failures = 0;
  let lastFailureLog = 0;
  const busFailed = async (error: unknown, doing: string) => {
    const now = Date.now();
    if (failures === 0 || now - lastFailureLog > failureLogIntervalMs) {
      log.warn({ err: error }, `event consumer: ${doing} failed; retrying`);
      lastFailureLog = now;
    }
    failures++;
    await pause(Math.min(50 * 2 ** failures, maxErrorBackoffMs), stopping.signal);
  };
  const busWorked = () => {
    if (failures > 0) log.info('event consumer: bus reachable again');
    failures = 0;
  };

  const deliver = async (delivery: Delivery) => {
    const { event, attempt } = delivery;
    if (event instanceof Error) {
      log.error({ entryId: delivery.entryId, reason: event.message }, 'event consumer: unreadable entry dead-lettered');
      return reader.deadLetter(delivery, event.message);
    }
    if (attempt > maxAttempts) {
      // Earlier deliveries were never acknowledged nor failed: the consumer holding
      // them died or was stopped mid-handler, maybe because of this very event.
      const reason = `not acknowledged after ${attempt - 1} deliveries (the consumer crashed or stopped while handling it)`;
      log.error({ eventId: event.id, type: event.type, attempt }, `event consumer: dead-lettered: ${reason}`);
      return reader.deadLetter(delivery, reason);
    }
    let failure: { error: unknown } | null = null;
    try {
      await handle(event, { attempt, stream });
    } catch (error) {
      failure = { error };
    }
    if (!failure) return reader.ack(delivery);
    const reason = errorMessage(failure.error);
    if (attempt >= maxAttempts) {
      log.error(
        { err: failure.error, eventId: event.id, type: event.type, attempt },
        'event consumer: handler failed on the last attempt; dead-lettered',
      );
      return reader.deadLetter(delivery, reason);
    }
    const delayMs = retryDelay(attempt, timing);
    log.warn(
      { err: failure.error, eventId: event.id, type: event.type, attempt, maxAttempts, retryInMs: delayMs },
      'event consumer: handler failed; will redeliver',
    );
    return reader.retryLater(delivery, delayMs);
  };

  const loop = async () => {
    while (!stopping.signal.aborted) {
      let batch: Delivery[];
      try {
        batch = await reader.read(batchSize, blockMs, stopping.signal);
        busWorked();
      } catch (error) {
        if (!stopping.signal.aborted) await busFailed(error, 'reading');
        continue;
      }
      let index = 0;
      try {
        for (; index < batch.length && !stopping.signal.aborted; index++) await deliver(batch[index]!);
      } catch (error) {
        // The bus failed to record an outcome. What is left of the batch stays
        // pending, and the group redelivers it once it is idle long enough.
        await busFailed(error, 'acknowledging');
        continue;
      }
      if (index < batch.length) {
        await reader.release(batch.slice(index)).catch((error: unknown) => {
          log.warn(
            { err: error },
            'event consumer: could not hand back unhandled events; the group reclaims them later',
          );
        });
      }
    }
  };

  const done = loop()
    .catch((error: unknown) => log.error({ err: error }, 'event consumer: stopped by an unexpected error'))
    .finally(() => reader.close().catch((error: unknown) => log.warn({ err: error }, 'event consumer: close failed')));

  return {
    async stop() {
      stopping.abort();
      await done;
    },
  };
}

/** Sleeps `ms`, or less when `signal` aborts; never rejects. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await sleep(ms, undefined, signal ? { signal } : undefined).catch(() => {});
}
