import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { createEventBus, type EventBus } from '../../platform/src/events/index.ts';
import { withStreamPrefix } from '../../platform/src/events/stream-prefix.ts';
import { testLogger } from './shop-graph.ts';

export interface TestStreams {
  redis: ReturnType<typeof createClient>;
  /** The bus on streams named `<prefix>:<stream>`, so test files sharing a Redis never read each other's events. */
  bus: EventBus;
  prefix: string;
  /** Closes the bus, deletes every stream under the prefix and disconnects. */
  close(): Promise<void>;
}

/** Redis Streams of a test's own on the suite's Redis. */
export async function openTestStreams(redisUrl: string): Promise<TestStreams> {
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  const prefix = `test-${randomUUID()}`;
  const bus = withStreamPrefix(createEventBus({ redis, logger: testLogger('bus') }), prefix);
  return {
    redis,
    bus,
    prefix,
    async close() {
      await bus.close();
      const streams = await redis.keys(`${prefix}:*`);
      if (streams.length > 0) await redis.del(streams);
      await redis.quit();
    },
  };
}
