import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisCache, type RedisClient } from '../../src/cache/redis.ts';
import {
  MemoryBus,
  RedisStreamsBus,
  deadLetterStream,
  type DeadLetter,
  type DomainEvent,
  type EventBus,
  type SubscribeOptions,
  type Subscription,
} from '../../src/events/index.ts';
import { startRedisCluster } from '../../../test/support/redis-cluster.ts';
import { until } from '../../../test/support/until.ts';
import { domainEvent, events, logger, uniqueStream, type Handled } from './support.ts';

/**
 * The contract every EventBus keeps, run against each: the in-process bus of
 * the embedded default, Redis Streams on a real Redis, and Redis Streams on
 * a real Redis Cluster (six nodes this file starts), where each stream lives
 * on the master of its slot. Timings are tuned down (retries in tens of ms)
 * so the suite takes seconds.
 */

type BusUnderTest = EventBus & { readDeadLetters(stream: string, count?: number): Promise<DeadLetter[]> };

interface Variant {
  name: string;
  open(): Promise<{ bus: BusUnderTest; close(): Promise<void> }>;
}

const redisUrl = inject('redisUrl');
const timing = { claimIdleMs: 5_000, retryDelayMs: 20 };

const variants: Variant[] = [
  {
    name: 'memory',
    async open() {
      const bus = new MemoryBus({ logger, ...timing });
      return { bus, close: () => bus.close() };
    },
  },
  {
    name: 'redis streams',
    async open() {
      // Needs a real Redis: without redis-server this half fails rather than skips.
      if (redisUrl === null) throw new Error('needs redis-server on PATH (.ci/run installs it)');
      const redis: RedisClient = createClient({ url: redisUrl });
      redis.on('error', () => {});
      await redis.connect();
      const bus = new RedisStreamsBus({ redis, logger, ...timing, claimIntervalMs: 50 });
      return {
        bus,
        async close() {
          await bus.close();
          await redis.close();
        },
      };
    },
  },
  {
    name: 'redis streams on a cluster',
    async open() {
      // Without redis-server and redis-cli this half fails, saying so, rather than skips.
      const cluster = await startRedisCluster();
      // Connected as a service connects: REDIS_URL's cluster form, through the shared cache.
      const cache = new RedisCache({ url: cluster.url, logger });
      try {
        await until(() => cache.connected, { what: 'connected to the cluster', timeoutMs: 30_000 });
      } catch (error) {
        await cache.close();
        await cluster.stop();
        throw error;
      }
      const bus = new RedisStreamsBus({ redis: cache.connection, logger, ...timing, claimIntervalMs: 50 });
      return {
        bus,
        async close() {
          await bus.close();
          await cache.close();
          await cluster.stop();
        },
      };
    },
  },
];

describe.each(variants)('$name bus', ({ open }) => {
  let bus: BusUnderTest;
  let close: () => Promise<void> = async () => {};
  const subscriptions: Subscription[] = [];

  beforeAll(async () => {
    ({ bus, close } = await open());
  });

  afterAll(async () => {
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    await close();
  });

  /** Subscribes with a short block so tests never wait long for a read to end; records what it handles. */
  function consume(
    options: Omit<SubscribeOptions, 'handle'> & { handle?: SubscribeOptions['handle'] },
    handled: Handled[] = [],
  ) {
    const subscription = bus.subscribe({
      blockMs: 200,
      ...options,
      async handle(event, context) {
        await options.handle?.(event, context);
        handled.push({ event, context, consumer: options.consumer });
      },
    });
    subscriptions.push(subscription);
    return { subscription, handled };
  }

  const ids = (list: readonly { id: string }[]) => list.map((event) => event.id);

  it('delivers a stream in publish order, with the attempt and stream', async () => {
    const stream = uniqueStream('order');
    const published = events(25);
    const { handled } = consume({ stream, group: 'g', consumer: 'c1', batchSize: 7 });
    await bus.publish(stream, published.slice(0, 10));
    await bus.publish(stream, published.slice(10));
    await until(() => handled.length === 25, { what: '25 events handled' });

    expect(ids(handled.map((entry) => entry.event))).toEqual(ids(published));
    expect(handled[0]!.event).toEqual(published[0]);
    expect(new Set(handled.map((entry) => JSON.stringify(entry.context)))).toEqual(
      new Set([JSON.stringify({ attempt: 1, stream })]),
    );
  });

  it('splits one group between its consumers, with no event handled twice', async () => {
    const stream = uniqueStream('split');
    const handled: Handled[] = [];
    // A little work per event, so both consumers are busy at once.
    const handle = () => sleep(2);
    consume({ stream, group: 'workers', consumer: 'a', batchSize: 5, handle }, handled);
    consume({ stream, group: 'workers', consumer: 'b', batchSize: 5, handle }, handled);
    const published = events(100);
    await bus.publish(stream, published);
    await until(() => handled.length >= 100, { what: '100 events handled' });
    await sleep(100);

    expect(handled).toHaveLength(100);
    expect(new Set(ids(handled.map((entry) => entry.event)))).toEqual(new Set(ids(published)));
    expect(handled.filter((entry) => entry.consumer === 'a').length).toBeGreaterThan(0);
    expect(handled.filter((entry) => entry.consumer === 'b').length).toBeGreaterThan(0);
  });

  it('gives every group every event, including what was published before it subscribed', async () => {
    const stream = uniqueStream('groups');
    const published = events(30);
    await bus.publish(stream, published.slice(0, 10));
    const inventory = consume({ stream, group: 'inventory', consumer: 'c' });
    const cache = consume({ stream, group: 'cache-purge', consumer: 'c' });
    await bus.publish(stream, published.slice(10));
    await until(() => inventory.handled.length === 30 && cache.handled.length === 30, { what: 'both groups done' });

    expect(ids(inventory.handled.map((entry) => entry.event))).toEqual(ids(published));
    expect(ids(cache.handled.map((entry) => entry.event))).toEqual(ids(published));
  });

  it('redelivers an event whose handler failed, until it succeeds', async () => {
    const stream = uniqueStream('retry');
    const attempts: number[] = [];
    const { handled } = consume({
      stream,
      group: 'g',
      consumer: 'c',
      async handle(_event, { attempt }) {
        attempts.push(attempt);
        if (attempt < 3) throw new Error(`transient failure ${attempt}`);
      },
    });
    const flaky = domainEvent('Flaky');
    const started = Date.now();
    await bus.publish(stream, [flaky]);
    await until(() => handled.length === 1, { what: 'the flaky event handled' });

    expect(attempts).toEqual([1, 2, 3]);
    // After the retry backoff (tens of ms here), not after claimIdleMs.
    expect(Date.now() - started).toBeLessThan(timing.claimIdleMs / 2);
    expect(handled[0]!.event).toEqual(flaky);
    await until(async () => (await bus.stats(stream, 'g')).pending === 0, { what: 'nothing pending' });
    expect(await bus.stats(stream, 'g')).toMatchObject({ length: 1, pending: 0, lag: 0, deadLetters: 0 });
  });

  it('moves an event that always fails to <stream>.dead after maxAttempts, with the reason', async () => {
    const stream = uniqueStream('poison');
    const calls: number[] = [];
    const { handled } = consume({
      stream,
      group: 'g',
      consumer: 'c',
      maxAttempts: 3,
      async handle(event, { attempt }) {
        if (event.type === 'Poison') {
          calls.push(attempt);
          throw new Error('price must be positive');
        }
      },
    });
    const poison = domainEvent('Poison', { price: -1 });
    const healthy = events(3);
    await bus.publish(stream, [poison, ...healthy]);
    await until(async () => (await bus.stats(stream, 'g')).deadLetters === 1, { what: 'a dead letter' });

    expect(calls).toEqual([1, 2, 3]);
    // The poison event did not hold up the rest of the stream.
    expect(ids(handled.map((entry) => entry.event))).toEqual(ids(healthy));
    const [dead] = await bus.readDeadLetters(stream);
    expect(dead).toMatchObject({
      event: poison,
      reason: 'price must be positive',
      attempts: 3,
      group: 'g',
      consumer: 'c',
    });
    expect(Number.isNaN(Date.parse(dead!.failedAt))).toBe(false);
    await until(async () => (await bus.stats(stream, 'g')).pending === 0, { what: 'nothing pending' });
    expect(await bus.stats(stream, 'g')).toEqual({ length: 4, pending: 0, lag: 0, deadLetters: 1 });
    // Nothing more is attempted once it is dead.
    await sleep(200);
    expect(calls).toEqual([1, 2, 3]);
    expect(deadLetterStream(stream)).toBe(`${stream}.dead`);
  });

  it('reports length, pending and lag as events move through a group', async () => {
    const stream = uniqueStream('stats');
    expect(await bus.stats(stream, 'g')).toEqual({ length: 0, pending: 0, lag: 0, deadLetters: 0 });
    await bus.publish(stream, events(5));
    // No group yet: everything is still to be read.
    expect(await bus.stats(stream, 'g')).toEqual({ length: 5, pending: 0, lag: 5, deadLetters: 0 });

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { handled } = consume({ stream, group: 'g', consumer: 'c', batchSize: 10, handle: () => gate });
    await until(async () => (await bus.stats(stream, 'g')).pending === 5, { what: 'five pending' });
    expect(await bus.stats(stream, 'g')).toEqual({ length: 5, pending: 5, lag: 0, deadLetters: 0 });

    release();
    await until(() => handled.length === 5, { what: 'five handled' });
    await until(async () => (await bus.stats(stream, 'g')).pending === 0, { what: 'nothing pending' });
    await bus.publish(stream, events(2));
    const later = await bus.stats(stream, 'g');
    expect(later.length).toBe(7);
    expect(later.deadLetters).toBe(0);
    await until(() => handled.length === 7, { what: 'seven handled' });
  });

  it('stop() finishes the handler in flight, hands the rest back, and ends at once', async () => {
    const stream = uniqueStream('stop');
    const published = events(5);
    await bus.publish(stream, published);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const first = consume({
      stream,
      group: 'g',
      consumer: 'first',
      batchSize: 5,
      handle: async () => {
        started++;
        await gate;
      },
    });
    await until(() => started === 1, { what: 'the first handler started' });
    const stopping = first.subscription.stop();
    await sleep(50);
    expect(first.handled).toHaveLength(0);
    release();
    await stopping;

    // The handler in flight completed and was acknowledged; the other four never started.
    expect(ids(first.handled.map((entry) => entry.event))).toEqual(ids(published.slice(0, 1)));
    expect(started).toBe(1);
    await bus.publish(stream, events(1));
    await sleep(300);
    expect(first.handled).toHaveLength(1);

    // The four handed back reach the next consumer at once, as first attempts, then what came after.
    const handedBack = Date.now();
    const second = consume({ stream, group: 'g', consumer: 'second' });
    await until(() => second.handled.length === 5, { what: 'the rest handled by the second consumer' });
    expect(Date.now() - handedBack).toBeLessThan(timing.claimIdleMs / 2);
    expect(ids(second.handled.slice(0, 4).map((entry) => entry.event))).toEqual(ids(published.slice(1)));
    expect(second.handled.map((entry) => entry.context.attempt)).toEqual([1, 1, 1, 1, 1]);
  });

  it('stop() does not wait out a long blocking read', async () => {
    const stream = uniqueStream('idle');
    const { subscription } = consume({ stream, group: 'g', consumer: 'c', blockMs: 10_000 });
    // Let it settle into its blocking read.
    await sleep(300);
    const started = performance.now();
    await subscription.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('publishing nothing is a no-op, and an unserialisable payload fails the whole call', async () => {
    const stream = uniqueStream('publish');
    await bus.publish(stream, []);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad: DomainEvent = { ...domainEvent('Bad'), payload: circular };
    await expect(bus.publish(stream, [domainEvent('Good'), bad])).rejects.toThrow(/circular/i);
    expect((await bus.stats(stream, 'g')).length).toBe(0);
  });
});
