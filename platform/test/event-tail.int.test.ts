import { createClient } from 'redis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RedisCache, type RedisClient } from '../src/cache/redis.ts';
import { RedisStreamsBus, type EventTail } from '../src/events/index.ts';
import { createLogger } from '../src/logger.ts';
import { startRedis, type RedisServer } from '../../test/services.ts';
import { until } from '../../test/support/until.ts';
import {
  deadlineMs,
  eventIds,
  ids,
  nextOutcome,
  tailContract,
  take,
  testEvents,
  uniqueStream,
  type TailBusOptions,
} from './event-tail-contract.ts';

/**
 * `tail` on Redis Streams, on a real Redis: the contract both buses keep
 * (event-tail-contract.ts), then what only Redis has: one blocking reader
 * per stream however many tails, entries written by something else, and
 * Redis going away.
 */

const redisUrl = inject('redisUrl');
const logger = createLogger({ service: 'event-tail-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function client(url: string): Promise<RedisClient> {
  const redis: RedisClient = createClient({ url });
  redis.on('error', () => {});
  await redis.connect();
  cleanups.push(() => (redis.isOpen ? redis.close() : Promise.resolve()));
  return redis;
}

/** A logger whose JSON lines the test reads. */
function capturedLogger() {
  const written: string[] = [];
  const captured = createLogger({
    service: 'event-tail-test',
    level: 'warn',
    destination: { write: (line: string) => void written.push(line) },
  });
  return { logger: captured, lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** The connections Redis has for `stream`'s reader (named by the bus), with the command each is in. */
async function readerConnections(raw: RedisClient, stream: string): Promise<Array<{ cmd: string; flags: string }>> {
  const clients = await raw.clientList();
  return clients
    .filter((info) => info.name === `events-tail:${stream}`)
    .map((info) => ({ cmd: info.cmd, flags: info.flags }));
}

if (redisUrl === null) {
  // Outside CI a missing Redis is reported by global setup and this file passes vacuously; under CI it fails.
  it('needs redis-server, which only CI guarantees', () => {
    expect(process.env.CI, 'CI=true requires a real Redis').not.toBe('true');
  });
} else {
  const url = redisUrl;

  describe('redis streams bus', () => {
    tailContract(async (options?: TailBusOptions) => {
      const redis: RedisClient = createClient({ url });
      redis.on('error', () => {});
      await redis.connect();
      const bus = new RedisStreamsBus({ redis, logger, ...options });
      return {
        bus,
        async close() {
          await bus.close();
          await redis.close();
        },
      };
    });
  });

  describe('redis streams tail', () => {
    it('reads a stream for 200 tails on one blocking connection, which goes when the last tail closes', async () => {
      const raw = await client(url);
      const bus = new RedisStreamsBus({ redis: await client(url), logger });
      cleanups.push(() => bus.close());
      const stream = uniqueStream('shared');
      const published = testEvents(20);
      await bus.publish(stream, published.slice(0, 5));

      // Half of them live, half replaying from the start: all end up on the one reader.
      const tails: EventTail[] = Array.from({ length: 200 }, (_, index) =>
        bus.tail({ stream, blockMs: 200, ...(index % 2 === 0 ? {} : { after: '0-0' }) }),
      );
      cleanups.push(() => Promise.all(tails.map((tail) => tail.close())));
      await bus.publish(stream, published.slice(5));
      const received = await Promise.all(tails.map((tail, index) => take(tail, index % 2 === 0 ? 15 : 20)));
      received.forEach((tailed, index) => {
        expect(eventIds(tailed)).toEqual(ids(index % 2 === 0 ? published.slice(5) : published));
      });

      await until(async () => (await readerConnections(raw, stream)).some((reader) => reader.cmd === 'xread'), {
        what: 'the reader blocked in XREAD',
        timeoutMs: deadlineMs,
      });
      expect(await readerConnections(raw, stream)).toHaveLength(1);

      // Closing all but one keeps the reader; more events still reach the one left.
      await Promise.all(tails.slice(1).map((tail) => tail.close()));
      const more = testEvents(3);
      await bus.publish(stream, more);
      expect(eventIds(await take(tails[0]!, 3))).toEqual(ids(more));
      expect(await readerConnections(raw, stream)).toHaveLength(1);

      // The last one: the reader stops, and its connection is gone.
      await tails[0]!.close();
      await until(async () => (await readerConnections(raw, stream)).length === 0, {
        what: 'the reader connection closed',
        timeoutMs: deadlineMs,
      });

      // A tail after that starts a reader again.
      const again = bus.tail({ stream, blockMs: 200 });
      cleanups.push(() => again.close());
      const last = testEvents(1);
      await bus.publish(stream, last);
      expect(eventIds(await take(again, 1))).toEqual(ids(last));
      expect(await readerConnections(raw, stream)).toHaveLength(1);
    });

    it('stops every reader when the bus closes', async () => {
      const raw = await client(url);
      const bus = new RedisStreamsBus({ redis: await client(url), logger });
      const streams = [uniqueStream('closing-a'), uniqueStream('closing-b')];
      const tails = streams.flatMap((stream) => [bus.tail({ stream }), bus.tail({ stream, after: '0-0' })]);
      cleanups.push(() => Promise.all(tails.map((tail) => tail.close())));
      for (const stream of streams) await bus.publish(stream, testEvents(1));
      await Promise.all(tails.map((tail) => take(tail, 1)));
      expect(
        (await readerConnections(raw, streams[0]!)).length + (await readerConnections(raw, streams[1]!)).length,
      ).toBe(2);

      await bus.close();
      for (const tail of tails) expect(await nextOutcome(tail)).toEqual({ done: true });
      await until(
        async () =>
          (await readerConnections(raw, streams[0]!)).length + (await readerConnections(raw, streams[1]!)).length === 0,
        { what: 'both readers closed', timeoutMs: deadlineMs },
      );
    });

    it('skips, with a warning, an entry that is not an event, live and in a replay', async () => {
      const raw = await client(url);
      const { logger: captured, lines } = capturedLogger();
      const bus = new RedisStreamsBus({ redis: await client(url), logger: captured });
      cleanups.push(() => bus.close());
      const stream = uniqueStream('unreadable');
      const [first, second] = testEvents(2);

      const live = bus.tail({ stream, blockMs: 200 });
      cleanups.push(() => live.close());
      await bus.publish(stream, [first!]);
      // Something else writes to the stream: not an event, then an event whose payload is not JSON.
      const badId = await raw.xAdd(stream, '*', { hello: 'world' });
      await raw.xAdd(stream, '*', { id: 'x', type: 'T', aggregateId: 'a', occurredAt: 'now', payload: '{' });
      await bus.publish(stream, [second!]);

      expect(eventIds(await take(live, 2))).toEqual(ids([first!, second!]));
      const replayed = bus.tail({ stream, after: '0-0' });
      cleanups.push(() => replayed.close());
      expect(eventIds(await take(replayed, 2))).toEqual(ids([first!, second!]));

      const warnings = lines().filter((line) => line.msg === 'event tail: skipped an entry that is not an event');
      // Two entries, each once for the live tails and once for the replay.
      expect(warnings).toHaveLength(4);
      expect(warnings[0]).toMatchObject({ stream, position: badId });
      expect(String(warnings[0]!.reason)).toMatch(/malformed entry/);
    });

    it('pauses while Redis is away and goes on when it is back', async () => {
      let server: RedisServer = await startRedis();
      cleanups.push(() => server.stop());
      const port = Number(new URL(server.url).port);
      // As a subgraph would: the bus shares the connection of the Redis cache (fail-fast, reconnecting).
      const cache = new RedisCache({ url: server.url, logger });
      cleanups.push(() => cache.close());
      await until(() => cache.connected, { what: 'redis cache connected', timeoutMs: deadlineMs });
      const bus = new RedisStreamsBus({ redis: cache.connection, logger });
      cleanups.push(() => bus.close());
      const stream = uniqueStream('restart');
      const [before, after] = testEvents(2);

      const tail = bus.tail({ stream, blockMs: 200 });
      cleanups.push(() => tail.close());
      await bus.publish(stream, [before!]);
      expect(eventIds(await take(tail, 1))).toEqual([before!.id]);

      await server.stop();
      const pending = take(tail, 1, 'the event published after the restart');
      // Redis comes back empty (no persistence): new entries' ids are still above the reader's position.
      server = await startRedis(port);
      await until(
        async () =>
          bus.publish(stream, [after!]).then(
            () => true,
            () => false,
          ),
        { what: 'publishing accepted again', timeoutMs: deadlineMs },
      );
      expect(eventIds(await pending)).toEqual([after!.id]);
    });
  });
}
