import { hostname } from 'node:os';
import type { DomainEvent, EventBus, Subscription } from '../../../../platform/src/events/index.ts';
import { taggedEntity } from '../../../../platform/src/events/invalidation.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import { subgraphs } from '../../../../subgraphs/registry.ts';
import type { ResponseCache } from './index.ts';

type Entity = { type: string; id: string };

/**
 * The entities and root lists a domain event says it made stale, read from
 * the tags its producer's definition put in the envelope (`defineEvent`'s
 * `invalidates`): the router knows no event by name, so a new event purges
 * with no change here. A root list comes back as `{ type: 'Query', id: field }`.
 *
 * Used twice for each event: when a mutation's subgraph reports the events
 * it recorded (purged before the router answers, see index.ts), and when the
 * event arrives on its stream (purged again, which also covers what changed
 * behind the router: a consumer's projection, an admin tool, another instance).
 * An envelope without tags yields nothing here; see `purgeOnEvents` for what
 * the stream consumer does with one.
 */
export function entitiesChangedBy(event: Pick<DomainEvent, 'type' | 'invalidates'>): Entity[] {
  // Tags travel as JSON: anything but a list of tags names nothing.
  const tags: unknown = event.invalidates;
  if (!Array.isArray(tags)) return [];
  return tags.flatMap((tag) => (typeof tag === 'string' ? (taggedEntity(tag) ?? []) : []));
}

/**
 * The streams whose events can change what the router has cached: every
 * subgraph's, named after it by convention, as the registry lists them. A
 * subgraph that publishes nothing costs an idle read.
 */
export const purgedStreams: readonly string[] = subgraphs.map(({ name }) => name);

/**
 * Purges cached responses as events arrive, as one consumer group shared by
 * every router instance: with the cache in Redis, one purge serves all.
 *
 * An envelope without tags was recorded before events carried them (an
 * outbox row or stream entry from before the upgrade). What it changed is
 * unknown here, so the whole cache is purged: a miss is only slower, a stale
 * answer is wrong, and such envelopes exist only until the streams have
 * moved past the upgrade.
 */
export function purgeOnEvents({
  bus,
  cache,
  logger,
  streams = purgedStreams,
}: {
  bus: EventBus;
  cache: ResponseCache;
  logger: Logger;
  /** The streams to follow. Default: every subgraph's in the registry. */
  streams?: readonly string[];
}): Subscription[] {
  const consumer = `router-${hostname()}-${process.pid}`;
  return streams.map((stream) =>
    bus.subscribe({
      stream,
      group: 'router-response-cache',
      consumer,
      handle: async (event) => {
        // A purge the cache could not apply now is kept and retried by the cache itself
        // (pending-purges.ts): the event is handled either way.
        if (event.invalidates === undefined) {
          const outcome = await cache.purge({ all: true });
          logger.warn(
            { event: event.type, eventId: event.id, stream, ...outcome },
            'event without invalidation tags (recorded before events carried them): purged every cached response',
          );
          return;
        }
        const entities = entitiesChangedBy(event);
        if (entities.length === 0) return;
        const outcome = await cache.purge({ entities });
        logger.debug({ event: event.type, entities: entities.length, ...outcome }, 'purged cached responses');
      },
    }),
  );
}
