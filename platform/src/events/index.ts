import type { RedisClient } from '../cache/redis.ts';
import type { Logger } from '../logger.ts';
import { MemoryBus } from './memory-bus.ts';
import { RedisStreamsBus } from './redis-streams.ts';
import type { EventBus } from './types.ts';

export type {
  DeadLetter,
  DomainEvent,
  EventBus,
  EventBusStats,
  EventHandlerContext,
  EventTail,
  SubscribeOptions,
  Subscription,
  TailedEvent,
  TailOptions,
} from './types.ts';
export { InvalidPositionError, TailGapError, TailOverflowError } from './tail.ts';
export { deadLetterStream, newEvent } from './types.ts';
export {
  consumersOf,
  defineEvent,
  InvalidEventError,
  on,
  type DefineEventOptions,
  type EventDefinition,
  type EventHandler,
  type StreamConsumer,
} from './define.ts';
export { entityTag, rootListTag, taggedEntity } from './invalidation.ts';
export { MemoryBus, type MemoryBusOptions } from './memory-bus.ts';
export { RedisStreamsBus, type RedisStreamsBusOptions } from './redis-streams.ts';
export {
  oldestUnpublishedAgeSeconds,
  outbox,
  OutboxRelay,
  recordEvents,
  type DatabaseTransaction,
  type OutboxRelayOptions,
  type OutboxRow,
} from './outbox.ts';
export {
  recordedSoFar,
  noteRecordedEvents,
  recordedEventsExtension,
  recordingEvents,
  reportRecordedEventsPlugin,
} from './recorded.ts';
export { republishState, type RepublishOptions } from './republish.ts';
export { forgetProcessedEvents, handleOnce, processedEvents, processedEventsRetentionMs } from './inbox.ts';

export interface CreateEventBusOptions {
  /** A connected (or connecting) client: Redis Streams. `null`: the in-process bus. */
  redis: RedisClient | null;
  logger: Logger;
}

/**
 * The bus for this deployment: Redis Streams when there is a Redis, else the
 * in-process bus of the embedded default. The Redis client stays the
 * caller's to close.
 */
export function createEventBus({ redis, logger }: CreateEventBusOptions): EventBus {
  return redis ? new RedisStreamsBus({ redis, logger }) : new MemoryBus({ logger });
}
