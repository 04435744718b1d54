import type { EventBus } from './types.ts';

/**
 * The same bus with every stream name prefixed (`staging:orders`), so
 * several graphs (environments, test runs) can share one Redis without
 * reading each other's events.
 */
export function withStreamPrefix(bus: EventBus, prefix: string): EventBus {
  if (prefix === '') return bus;
  const named = (stream: string) => `${prefix}:${stream}`;
  return {
    publish: (stream, events) => bus.publish(named(stream), events),
    subscribe: (options) => bus.subscribe({ ...options, stream: named(options.stream) }),
    tail: (options) => bus.tail({ ...options, stream: named(options.stream) }),
    stats: (stream, group) => bus.stats(named(stream), group),
    close: () => bus.close(),
  };
}
