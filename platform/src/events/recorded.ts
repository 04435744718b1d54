import { AsyncLocalStorage } from 'node:async_hooks';
import type { ApolloServerPlugin } from '@apollo/server';
import type { DomainEvent } from './types.ts';

/**
 * The events a request's write recorded, reported with its answer so that
 * whoever caches what the write changed (the router's response cache) can
 * drop it before the caller hears the write is done: the outbox delivers
 * the same events too, but only after the answer, and a caller who reads
 * right after writing must already see the write.
 */
const recording = new AsyncLocalStorage<DomainEvent[]>();

/** The response extension the events travel in; the router takes it off before answering. */
export const recordedEventsExtension = 'recordedEvents';

/** Runs `work` (one GraphQL request) noting every event `recordEvents` records in it. */
export function recordingEvents<T>(work: () => T): T {
  return recording.run([], work);
}

/** The events recorded so far in the current `recordingEvents` scope; empty outside one. */
export function recordedSoFar(): readonly DomainEvent[] {
  return recording.getStore() ?? [];
}

/** Called by `recordEvents`: notes `events` for the request in whose async context they were recorded, if any. */
export function noteRecordedEvents(events: readonly DomainEvent[]): void {
  recording.getStore()?.push(...events);
}

/**
 * Puts the events a mutation recorded in its response's extensions. An event
 * noted by a transaction that then rolled back is reported all the same: it
 * can only make a cache drop something it did not have to.
 */
export function reportRecordedEventsPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, operation }) {
          const events = recording.getStore();
          if (!events?.length || operation?.operation !== 'mutation' || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = {
            ...result.extensions,
            [recordedEventsExtension]: events.map(({ type, aggregateId, payload, invalidates }) => ({
              type,
              aggregateId,
              payload,
              invalidates,
            })),
          };
        },
      };
    },
  };
}
