import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RedisCache, type RedisClient } from '../../src/cache/redis.ts';
import { RedisStreamsBus, type Subscription } from '../../src/events/index.ts';
import { startRedis, type RedisServer } from '../../../test/services.ts';
import { until } from '../../../test/support/until.ts';
import { domainEvent, events, logger, uniqueStream, type Handled } from './support.ts';

/**
 * What only Redis Streams can go through: a consumer dying with events
 * delivered and unacknowledged, entries written by something else, and Redis
 * itself going away and coming back.
 */

const redisUrl = inject('redisUrl');
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Outside CI a missing Redis is reported by global setup and these tests pass vacuously; under CI it fails them. */
function realRedis(): string | null {
  if (redisUrl === null) expect(process.env.CI, 'CI=true requires a real Redis').not.toBe('true');
  return redisUrl;
}

async function client(url: string): Promise<RedisClient> {
  const redis: RedisClient = createClient({ url });
  redis.on('error', () => {});
  await redis.connect();
  cleanups.push(() => (redis.isOpen ? redis.close() : Promise.resolve()));
  return redis;
}

function bus(redis: RedisClient, options: Partial<ConstructorParameters<typeof RedisStreamsBus>[0]> = {}) {
  const created = new RedisStreamsBus({ redis, logger, claimIntervalMs: 50, retryDelayMs: 20, ...options });
  cleanups.push(() => created.close());
  return created;
}

function collect(handled: Handled[], consumer: string) {
  return {
    consumer,
    async handle(event: Handled['event'], context: Handled['context']) {
      handled.push({ event, context, consumer });
    },
  };
}

describe('redis streams bus', () => {
  it('hands the events of a consumer that died mid-batch to another consumer of the group', async () => {
    const url = realRedis();
    if (!url) return;
    const stream = uniqueStream('crash');
    const raw = await client(url);
    const published = events(10);
    const survivorBus = bus(await client(url), { claimIdleMs: 300 });
    await survivorBus.publish(stream, published);

    // A consumer reads the whole batch, acknowledges three, and dies: its connection just goes.
    const doomed = await client(url);
    await doomed.xGroupCreate(stream, 'g', '0', { MKSTREAM: true });
    const [batch] = (await doomed.xReadGroup('g', 'doomed', { key: stream, id: '>' }, { COUNT: 10 })) as Array<{
      messages: Array<{ id: string }>;
    }>;
    expect(batch!.messages).toHaveLength(10);
    await doomed.xAck(
      stream,
      'g',
      batch!.messages.slice(0, 3).map((message) => message.id),
    );
    doomed.destroy();
    expect((await survivorBus.stats(stream, 'g')).pending).toBe(7);

    const handled: Handled[] = [];
    const started = Date.now();
    cleanups.push(() => survivor.stop());
    const survivor: Subscription = survivorBus.subscribe({
      stream,
      group: 'g',
      blockMs: 100,
      ...collect(handled, 'survivor'),
    });
    await until(() => handled.length === 7, { what: 'the seven unacknowledged events taken over' });

    // Not before they had been idle claimIdleMs, and each exactly once, as its second delivery.
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(handled.map((entry) => entry.event.id)).toEqual(published.slice(3).map((event) => event.id));
    expect(handled.map((entry) => entry.context.attempt)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    await until(async () => (await survivorBus.stats(stream, 'g')).pending === 0, { what: 'nothing pending' });
    const pending = await raw.xPending(stream, 'g');
    expect(pending.pending).toBe(0);
    await sleep(300);
    expect(handled).toHaveLength(7);
  });

  it('dead-letters, without handling it again, an event whose consumers kept dying on it', async () => {
    const url = realRedis();
    if (!url) return;
    const stream = uniqueStream('crashloop');
    const raw = await client(url);
    const eventBus = bus(await client(url), { claimIdleMs: 200 });
    const killer = domainEvent('Killer');
    await eventBus.publish(stream, [killer, domainEvent('Fine')]);
    await raw.xGroupCreate(stream, 'g', '0', { MKSTREAM: true });
    const [batch] = (await raw.xReadGroup('g', 'crashed', { key: stream, id: '>' }, { COUNT: 1 })) as Array<{
      messages: Array<{ id: string }>;
    }>;
    // As if five consumers in turn had taken it over and died handling it.
    await raw.xClaimJustId(stream, 'g', 'crashed', 0, batch!.messages[0]!.id, { RETRYCOUNT: 5 });

    const handled: Handled[] = [];
    cleanups.push(() => subscription.stop());
    const subscription = eventBus.subscribe({
      stream,
      group: 'g',
      maxAttempts: 5,
      blockMs: 100,
      ...collect(handled, 'c'),
    });
    await until(async () => (await eventBus.stats(stream, 'g')).deadLetters === 1, { what: 'a dead letter' });
    await until(() => handled.length === 1, { what: 'the other event handled' });

    expect(handled[0]!.event.type).toBe('Fine');
    const [dead] = await eventBus.readDeadLetters(stream);
    expect(dead).toMatchObject({ event: killer, attempts: 6, group: 'g' });
    expect(dead!.reason).toMatch(/not acknowledged after 5 deliveries/);
  });

  it('dead-letters an entry that is not an event, keeping its fields, and goes on', async () => {
    const url = realRedis();
    if (!url) return;
    const stream = uniqueStream('malformed');
    const raw = await client(url);
    const eventBus = bus(await client(url));
    await raw.xAdd(stream, '*', { hello: 'world' });
    await raw.xAdd(stream, '*', { id: 'x', type: 'T', aggregateId: 'a', occurredAt: 'now', payload: '{not json' });
    const good = domainEvent('Good');
    await eventBus.publish(stream, [good]);

    const handled: Handled[] = [];
    cleanups.push(() => subscription.stop());
    const subscription = eventBus.subscribe({ stream, group: 'g', blockMs: 100, ...collect(handled, 'c') });
    await until(() => handled.length === 1, { what: 'the good event handled' });
    await until(async () => (await eventBus.stats(stream, 'g')).deadLetters === 2, { what: 'two dead letters' });

    expect(handled[0]!.event).toEqual(good);
    const dead = await eventBus.readDeadLetters(stream);
    expect(dead.map((letter) => [letter.event, letter.attempts])).toEqual([
      [null, 1],
      [null, 1],
    ]);
    expect(dead[0]!.reason).toMatch(/malformed entry/);
    expect(dead[1]!.reason).toMatch(/payload is not JSON/);
    const [kept] = await raw.xRange(`${stream}.dead`, '-', '+', { COUNT: 1 });
    expect(kept!.message).toMatchObject({ hello: 'world', group: 'g' });
  });

  it('survives Redis restarting: publish fails fast while it is down, then publishing and consuming resume', async () => {
    if (!realRedis()) return;
    let server: RedisServer = await startRedis();
    cleanups.push(() => server.stop());
    const port = Number(new URL(server.url).port);
    // As a subgraph would: the bus shares the connection of the Redis cache (fail-fast, reconnecting).
    const cache = new RedisCache({ url: server.url, logger });
    cleanups.push(() => cache.close());
    await until(() => cache.connected, { what: 'redis cache connected' });
    const eventBus = bus(cache.connection);
    const stream = uniqueStream('restart');

    const handled: Handled[] = [];
    cleanups.push(() => subscription.stop());
    const subscription = eventBus.subscribe({ stream, group: 'g', blockMs: 200, ...collect(handled, 'c') });
    const before = domainEvent('BeforeRestart');
    await eventBus.publish(stream, [before]);
    await until(() => handled.length === 1, { what: 'the first event handled' });

    await server.stop();
    const started = performance.now();
    await expect(eventBus.publish(stream, [domainEvent('WhileDown')])).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(2_500);
    await expect(eventBus.stats(stream, 'g')).rejects.toThrow();
    // The subscription keeps retrying in the background, without crashing anything.
    await sleep(500);

    // Redis comes back empty (no persistence): the group is recreated and new events flow.
    server = await startRedis(port);
    const after = domainEvent('AfterRestart');
    await until(
      async () =>
        eventBus.publish(stream, [after]).then(
          () => true,
          () => false,
        ),
      { what: 'publishing accepted again', timeoutMs: 15_000 },
    );
    await until(() => handled.length === 2, {
      what: 'the event published after the restart handled',
      timeoutMs: 15_000,
    });
    expect(handled.map((entry) => entry.event)).toEqual([before, after]);
    // The handler has run; its acknowledgement follows.
    await until(async () => (await eventBus.stats(stream, 'g')).pending === 0, { what: 'the event acknowledged' });
    expect(await eventBus.stats(stream, 'g')).toEqual({ length: 1, pending: 0, lag: 0, deadLetters: 0 });
  });
});
