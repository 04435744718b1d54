import type { DeadLetter, DomainEvent } from './types.ts';

/**
 * How an event is laid out as stream entry fields, shared by both buses so
 * they store exactly the same thing. One field per envelope property keeps
 * entries readable with `XRANGE` and lets a dead letter carry the event's
 * own fields next to why it died.
 */
export type EntryFields = Record<string, string>;

export function encodeEvent(event: DomainEvent): EntryFields {
  const fields: EntryFields = {
    id: event.id,
    type: event.type,
    aggregateId: event.aggregateId,
    occurredAt: event.occurredAt,
    // `?? null`: JSON.stringify(undefined) is undefined, which is not a field value.
    payload: JSON.stringify(event.payload ?? null),
  };
  // Left out rather than empty when unknown: "no tags" and "invalidates nothing" differ.
  if (event.invalidates) fields.invalidates = JSON.stringify(event.invalidates);
  if (event.traceparent) fields.traceparent = event.traceparent;
  return fields;
}

/** The event in `fields`, or an Error saying why they are not one. */
export function decodeEvent(fields: EntryFields): DomainEvent | Error {
  const { id, type, aggregateId, occurredAt, payload } = fields;
  if (!id || !type || aggregateId === undefined || !occurredAt || payload === undefined) {
    return new Error(
      `malformed entry: expected id, type, aggregateId, occurredAt and payload, got ${describe(fields)}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload) as unknown;
  } catch (error) {
    return new Error(`malformed entry ${id}: payload is not JSON (${(error as Error).message})`);
  }
  const event: DomainEvent = { id, type, aggregateId, occurredAt, payload: parsed };
  if (fields.traceparent) event.traceparent = fields.traceparent;
  // An entry from before events carried their tags has no such field: it stays readable, without them.
  if (fields.invalidates === undefined) return event;
  const invalidates = parseTags(fields.invalidates);
  if (!invalidates) {
    return new Error(
      `malformed entry ${id}: invalidates must be a JSON array of tag strings, got ${describe({ invalidates: fields.invalidates })}`,
    );
  }
  event.invalidates = invalidates;
  return event;
}

function parseTags(text: string): string[] | null {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) && value.every((tag) => typeof tag === 'string') ? (value as string[]) : null;
  } catch {
    return null;
  }
}

export interface DeadLetterDetails {
  reason: string;
  attempts: number;
  group: string;
  consumer: string;
}

/** The original entry's fields, kept as they were, plus why it died: replaying one is re-publishing its event. */
export function encodeDeadLetter(fields: EntryFields, details: DeadLetterDetails): EntryFields {
  return {
    ...fields,
    reason: details.reason,
    attempts: String(details.attempts),
    group: details.group,
    consumer: details.consumer,
    failedAt: new Date().toISOString(),
  };
}

export function decodeDeadLetter(fields: EntryFields): DeadLetter {
  const event = decodeEvent(fields);
  return {
    event: event instanceof Error ? null : event,
    reason: fields.reason ?? '',
    attempts: Number(fields.attempts ?? 0),
    group: fields.group ?? '',
    consumer: fields.consumer ?? '',
    failedAt: fields.failedAt ?? '',
  };
}

function describe(fields: EntryFields): string {
  const text = JSON.stringify(fields);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
