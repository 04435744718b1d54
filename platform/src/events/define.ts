import type { z } from 'zod';
import type { Database, DrizzleSchema } from '../db/database.ts';
import { recordEvents, type DatabaseTransaction } from './outbox.ts';
import { newEvent, type DomainEvent } from './types.ts';

/**
 * The event catalog: each event is defined once, beside the code that
 * produces it, as its type, the stream it goes to, the schema of its payload
 * and what it makes stale. The producer records it through the definition,
 * which checks the payload and stamps the envelope with its tags; a consumer
 * imports the producer's definition and parses what arrives with it; the
 * router purges from the tags alone, knowing no event by name.
 */

export interface DefineEventOptions<TType extends string, TPayload> {
  /** The event's name on the wire, unique in the graph: `OrderPlaced`. */
  type: TType;
  /** The stream the producer records it on: by convention, the producing subgraph's name. */
  stream: string;
  /** The payload's shape. Checked when the event is recorded and again when it is received. */
  schema: z.ZodType<TPayload>;
  /**
   * The response-cache tags an event with this payload makes stale, built
   * with `entityTag` and `rootListTag` (invalidation.ts). Called when the
   * event is recorded; the tags travel in the envelope.
   */
  invalidates: (payload: TPayload) => readonly string[];
}

export interface EventDefinition<TPayload = unknown> {
  readonly type: string;
  readonly stream: string;
  readonly schema: z.ZodType<TPayload>;
  /** The tags an event with `payload` makes stale. */
  invalidates(payload: TPayload): string[];
  /** A new event about `aggregateId`: the payload checked, the tags computed. Throws `InvalidEventError` on a payload that breaks the schema. */
  create(aggregateId: string, payload: TPayload): DomainEvent<TPayload>;
  /**
   * Creates the event and records it in the outbox within `tx`, the
   * transaction that makes the change it describes: it is published if and
   * only if that commits.
   */
  record<TTables extends DrizzleSchema>(
    tx: DatabaseTransaction<TTables> | Database<TTables>,
    aggregateId: string,
    payload: TPayload,
  ): Promise<DomainEvent<TPayload>>;
  /** The received `event` with its payload checked against the schema; throws `InvalidEventError` when it does not match. */
  parse(event: DomainEvent): DomainEvent<TPayload>;
}

/** A payload that breaks its event's schema, as sent by a producer or as received by a consumer. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

export function defineEvent<TType extends string, TPayload>(
  options: DefineEventOptions<TType, TPayload>,
): EventDefinition<TPayload> & { readonly type: TType } {
  const { type, stream, schema } = options;
  // Braces choose a key's hash slot on a Redis Cluster, where a stream and its dead letters must share
  // one (redis-connection.ts `deadLetterKey`): refused here, at the definition, on every deployment alike.
  if (/[{}]/.test(stream)) {
    throw new Error(
      `The ${type} event's stream "${stream}" may not hold "{" or "}": on a Redis Cluster they choose its hash slot`,
    );
  }
  const check = (payload: unknown, what: string): TPayload => {
    const result = schema.safeParse(payload);
    if (result.success) return result.data;
    // Restates the contract and shows what came instead, as dataloader does for a broken batch function.
    throw new InvalidEventError(
      `A ${type} event must carry a payload matching the schema its definition (stream "${stream}") gives, ` +
        `but ${what} does not: ${result.error.issues
          .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(payload)'}: ${issue.message}`)
          .join('; ')}. Payload: ${preview(payload)}`,
    );
  };
  const invalidates = (payload: TPayload) => [...new Set(options.invalidates(payload))];
  const create = (aggregateId: string, payload: TPayload) => {
    const checked = check(payload, `the one given for ${aggregateId}`);
    return newEvent(type, aggregateId, checked, invalidates(checked));
  };
  return {
    type,
    stream,
    schema,
    invalidates,
    create,
    async record(tx, aggregateId, payload) {
      const event = create(aggregateId, payload);
      await recordEvents(tx, stream, [event]);
      return event;
    },
    parse(event) {
      if (event.type !== type) {
        throw new InvalidEventError(`expected a ${type} event, got a ${event.type} event (${event.id})`);
      }
      return { ...event, payload: check(event.payload, `event ${event.id}`) };
    },
  };
}

/** A handler of one event, typed by the producer's definition: see `on`. */
export interface EventHandler<TContext> {
  readonly event: EventDefinition;
  handle(event: DomainEvent, context: TContext): Promise<void>;
}

/**
 * Handles events of `definition`, each parsed on receipt: a payload that
 * breaks the schema throws `InvalidEventError` before `handle` runs, so the
 * bus retries it a bounded number of times and then sets it aside in the
 * dead letters with that error as the reason.
 */
export function on<TPayload, TContext>(
  definition: EventDefinition<TPayload>,
  handle: (event: DomainEvent<TPayload>, context: TContext) => Promise<unknown>,
): EventHandler<TContext> {
  return {
    event: definition,
    async handle(event, context) {
      await handle(definition.parse(event), context);
    },
  };
}

/** One subscription's worth of handlers: every handler of events on `stream`, found by type. */
export interface StreamConsumer<TContext> {
  stream: string;
  /** Runs the handler of `event.type`; an event of a type nobody here handles is acknowledged untouched. */
  handle(event: DomainEvent, context: TContext): Promise<void>;
}

/** Groups `handlers` by the stream their events travel on, one consumer per stream, in order of first appearance. */
export function consumersOf<TContext>(handlers: readonly EventHandler<TContext>[]): StreamConsumer<TContext>[] {
  const byStream = new Map<string, Map<string, EventHandler<TContext>>>();
  for (const handler of handlers) {
    const { stream, type } = handler.event;
    const byType = byStream.get(stream) ?? new Map<string, EventHandler<TContext>>();
    if (byType.has(type)) throw new TypeError(`${type} is handled twice; one handler per event type and consumer`);
    byType.set(type, handler);
    byStream.set(stream, byType);
  }
  return [...byStream].map(([stream, byType]) => ({
    stream,
    handle: async (event, context) => {
      await byType.get(event.type)?.handle(event, context);
    },
  }));
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
