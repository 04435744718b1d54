import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidPositionError,
  newEvent,
  TailGapError,
  TailOverflowError,
  type DomainEvent,
  type EventBus,
  type EventTail,
  type TailedEvent,
} from '../src/events/index.ts';

/**
 * What every bus's `tail` keeps, run by event-tail.test.ts (the in-process
 * bus) and event-tail.int.test.ts (Redis Streams on a real Redis). Waits are
 * bounded by what is awaited (counts, the last event), with deadlines
 * generous enough for a slow machine.
 */

export interface TailBusOptions {
  /** The bus's cap on a stream's length. */
  maxLen?: number;
}

export interface OpenedBus {
  bus: EventBus;
  close(): Promise<void>;
}

/** Generous: a deadline only bounds a test that is already failing. */
export const deadlineMs = 30_000;

/** A stream name no other test (or earlier run against the same Redis) uses. */
export function uniqueStream(label: string): string {
  return `test.tail.${label}.${randomUUID().slice(0, 8)}`;
}

export function testEvents(count: number, type = 'Tailed'): DomainEvent[] {
  return Array.from({ length: count }, (_, index) => newEvent(type, randomUUID(), { index }));
}

export const ids = (list: readonly { id: string }[]) => list.map((event) => event.id);
export const eventIds = (list: readonly TailedEvent[]) => list.map((tailed) => tailed.event.id);

/** `promise`, or a failure naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = deadlineMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The tail's next `count` events; fails if it ends or throws first, or after the deadline. */
export async function take(tail: EventTail, count: number, what = `${count} events`): Promise<TailedEvent[]> {
  const iterator = tail[Symbol.asyncIterator]();
  const taken: TailedEvent[] = [];
  const reading = (async () => {
    while (taken.length < count) {
      const result = await iterator.next();
      if (result.done) throw new Error(`${what}: the tail ended after ${taken.length}`);
      taken.push(result.value);
    }
    return taken;
  })();
  // A read still pending at the deadline ends when the test closes the tail; nobody awaits it then.
  reading.catch(() => {});
  return within(reading, `${what} (got ${taken.length})`);
}

/** Reads until the event with id `lastId` (included). */
export async function takeThrough(tail: EventTail, lastId: string, what: string): Promise<TailedEvent[]> {
  const iterator = tail[Symbol.asyncIterator]();
  const taken: TailedEvent[] = [];
  const reading = (async () => {
    for (;;) {
      const result = await iterator.next();
      if (result.done) throw new Error(`${what}: the tail ended after ${taken.length}`);
      taken.push(result.value);
      if (result.value.event.id === lastId) return taken;
    }
  })();
  reading.catch(() => {});
  return within(reading, `${what} (got ${taken.length})`);
}

/** What the tail's next read does: an event, the end, or an error. */
export async function nextOutcome(
  tail: EventTail,
): Promise<{ value: TailedEvent } | { done: true } | { error: unknown }> {
  const reading = tail[Symbol.asyncIterator]()
    .next()
    .then(
      (result) => (result.done ? { done: true as const } : { value: result.value }),
      (error: unknown) => ({ error }),
    );
  return within(reading, 'the next read');
}

/** Whether position `a` comes after `b`, as Redis orders its ids: by the first number, then the second. */
function isAfter(a: string, b: string): boolean {
  const [[a1, a2], [b1, b2]] = [a, b].map((position) => position.split('-').map(BigInt)) as [bigint[], bigint[]];
  return a1! > b1! || (a1 === b1 && a2! > b2!);
}

function expectIncreasing(tailed: readonly TailedEvent[]): void {
  const positions = tailed.map((entry) => entry.position);
  for (const position of positions) expect(position).toMatch(/^\d+-\d+$/);
  for (let index = 1; index < positions.length; index++) {
    expect(isAfter(positions[index]!, positions[index - 1]!), `${positions[index]} after ${positions[index - 1]}`).toBe(
      true,
    );
  }
}

export function tailContract(open: (options?: TailBusOptions) => Promise<OpenedBus>): void {
  const cleanups: Array<() => Promise<unknown>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function openBus(options?: TailBusOptions): Promise<EventBus> {
    const opened = await open(options);
    cleanups.push(() => opened.close());
    return opened.bus;
  }

  function tailOf(bus: EventBus, options: Parameters<EventBus['tail']>[0]): EventTail {
    // A short block, so that nothing waits long on a read when it ends.
    const tail = bus.tail({ blockMs: 200, ...options });
    cleanups.push(() => tail.close());
    return tail;
  }

  /** Every position of `stream` so far, read from its start. */
  async function positionsOf(bus: EventBus, stream: string, count: number): Promise<TailedEvent[]> {
    const reader = bus.tail({ stream, after: '0-0' });
    try {
      return await take(reader, count, `the ${count} events of ${stream}`);
    } finally {
      await reader.close();
    }
  }

  describe('tail', () => {
    it('without a position, delivers the events published from then on, in order, with increasing positions', async () => {
      const bus = await openBus();
      const stream = uniqueStream('live');
      const [before, ...published] = testEvents(6);
      await bus.publish(stream, [before!]);
      const tail = tailOf(bus, { stream });
      await bus.publish(stream, published.slice(0, 2));
      await bus.publish(stream, published.slice(2));

      const tailed = await take(tail, 5);
      expect(eventIds(tailed)).toEqual(ids(published));
      expect(tailed[0]!.event).toEqual(published[0]);
      expectIncreasing(tailed);
    });

    it('after a position, replays what followed it, then goes on live, with no gap and no duplicate while events keep coming', async () => {
      const bus = await openBus();
      const stream = uniqueStream('replay');
      const published = testEvents(450);
      await bus.publish(stream, published.slice(0, 50));
      const positions = (await positionsOf(bus, stream, 50)).map((tailed) => tailed.position);
      const lastId = published.at(-1)!.id;

      const readers: Array<{ name: string; from: number; reading: Promise<TailedEvent[]> }> = [];
      const start = (name: string, from: number, after: string) => {
        const tail = tailOf(bus, { stream, after });
        readers.push({ name, from, reading: takeThrough(tail, lastId, name) });
      };
      start('after the 10th', 10, positions[9]!);
      start('after the 50th, the newest', 50, positions[49]!);

      // Tails start while publishes are in flight, several at a time, so they join the live
      // stream at every kind of moment: with entries appended after their last replay read,
      // and with the live reader behind what they have read. The later ones replay several pages.
      const publishing: Array<Promise<void>> = [];
      for (let batch = 0, next = 50; next < published.length; batch++, next += 2) {
        if (batch % 10 === 5) {
          start(`after the ${batch % 50}th, mid-stream`, batch % 50, positions[(batch % 50) - 1]!);
        }
        publishing.push(bus.publish(stream, published.slice(next, next + 2)));
        if (batch % 4 === 3) await nextTurn();
      }
      await Promise.all(publishing);

      expect(readers.length).toBeGreaterThan(20);
      for (const { name, from, reading } of readers) {
        const tailed = await reading;
        expect(eventIds(tailed), name).toEqual(ids(published.slice(from)));
        expectIncreasing(tailed);
      }
    });

    it('live-only tails started while events keep coming get a contiguous run up to the last', async () => {
      const bus = await openBus();
      const stream = uniqueStream('live-race');
      const published = testEvents(200);
      const lastId = published.at(-1)!.id;
      const readings: Array<Promise<TailedEvent[]>> = [];
      for (let index = 0; index < published.length; index += 4) {
        if (index % 40 === 0) readings.push(takeThrough(tailOf(bus, { stream }), lastId, `tail from ${index}`));
        await bus.publish(stream, published.slice(index, index + 4));
        await nextTurn();
      }
      for (const reading of readings) {
        const tailed = await reading;
        const first = published.findIndex((event) => event.id === tailed[0]!.event.id);
        expect(first).toBeGreaterThanOrEqual(0);
        expect(eventIds(tailed)).toEqual(ids(published.slice(first)));
      }
    });

    it('after the newest position, replays nothing and goes on live', async () => {
      const bus = await openBus();
      const stream = uniqueStream('newest');
      const published = testEvents(8);
      await bus.publish(stream, published.slice(0, 5));
      const newest = (await positionsOf(bus, stream, 5)).at(-1)!.position;

      const tail = tailOf(bus, { stream, after: newest });
      await bus.publish(stream, published.slice(5));
      const tailed = await take(tail, 3);
      expect(eventIds(tailed)).toEqual(ids(published.slice(5)));
      expect(isAfter(tailed[0]!.position, newest)).toBe(true);
    });

    it('after a position the stream was trimmed past, ends with a TailGapError as its first result', async () => {
      const bus = await openBus({ maxLen: 10 });
      const stream = uniqueStream('expired');
      await bus.publish(stream, testEvents(1));
      const [oldest] = await positionsOf(bus, stream, 1);
      // Redis trims `MAXLEN ~` by whole nodes of 100 entries, so well past that.
      for (let batch = 0; batch < 5; batch++) await bus.publish(stream, testEvents(100));

      const tail = tailOf(bus, { stream, after: oldest!.position });
      const outcome = await nextOutcome(tail);
      expect(outcome).toHaveProperty('error');
      const { error } = outcome as { error: unknown };
      expect(error).toBeInstanceOf(TailGapError);
      expect(error).toMatchObject({ code: 'STREAM_POSITION_EXPIRED', stream, after: oldest!.position });
      expect((error as Error).message).toMatch(/trimmed/);
      // Then the iterator is done.
      expect(await nextOutcome(tail)).toEqual({ done: true });
    });

    it('ends a replay that the stream is trimmed past while its consumer lags with a TailGapError, after the events it held', async () => {
      const bus = await openBus({ maxLen: 10 });
      const stream = uniqueStream('trimmed-under');
      const published = testEvents(8);
      await bus.publish(stream, published);
      const tail = tailOf(bus, { stream, after: '0-0', bufferSize: 5 });
      const held = await take(tail, 1);
      // Its replay holds the next events and waits for its consumer, which does not come while
      // the stream grows by far more than its maxLen.
      for (let batch = 0; batch < 5; batch++) await bus.publish(stream, testEvents(100));

      const rest = await take(tail, 5, 'the events held');
      expect(eventIds([...held, ...rest])).toEqual(ids(published.slice(0, 6)));
      const { error } = (await nextOutcome(tail)) as { error: unknown };
      expect(error).toBeInstanceOf(TailGapError);
      expect(error).toMatchObject({ code: 'STREAM_POSITION_EXPIRED', after: rest.at(-1)!.position });
    });

    it('after a position the stream never reached (it was recreated, say), ends with a TailGapError', async () => {
      const bus = await openBus();
      const stream = uniqueStream('future');
      await bus.publish(stream, testEvents(3));
      const tail = tailOf(bus, { stream, after: `${Number.MAX_SAFE_INTEGER}-0` });
      const outcome = await nextOutcome(tail);
      expect((outcome as { error: unknown }).error).toBeInstanceOf(TailGapError);
      expect((outcome as { error: Error }).error.message).toMatch(/never reached/);

      // A stream that does not exist has no position but `0-0`.
      const missing = tailOf(bus, { stream: uniqueStream('missing'), after: '5-0' });
      expect(((await nextOutcome(missing)) as { error: unknown }).error).toBeInstanceOf(TailGapError);
    });

    it('after 0-0 of a stream never trimmed, replays all of it; of one not created yet, waits for its first event', async () => {
      const bus = await openBus();
      const stream = uniqueStream('from-start');
      const published = testEvents(5);
      await bus.publish(stream, published.slice(0, 3));
      const tail = tailOf(bus, { stream, after: '0-0' });
      expect(eventIds(await take(tail, 3))).toEqual(ids(published.slice(0, 3)));

      const later = uniqueStream('not-yet');
      const waiting = tailOf(bus, { stream: later, after: '0-0' });
      await bus.publish(later, published.slice(3));
      expect(eventIds(await take(waiting, 2))).toEqual(ids(published.slice(3)));
    });

    it('refuses a malformed position at once, with an InvalidPositionError (a TypeError)', async () => {
      const bus = await openBus();
      const stream = uniqueStream('malformed');
      const malformed = [
        '',
        'abc',
        '1733400000000',
        '1733400000000-',
        '-0',
        '1-2-3',
        '1.5-0',
        ' 1-0',
        '18446744073709551616-0',
      ];
      for (const after of malformed) {
        expect(() => bus.tail({ stream, after }), after).toThrow(InvalidPositionError);
      }
      expect(() => bus.tail({ stream, after: 'abc' })).toThrow(TypeError);
      expect(() => bus.tail({ stream, after: 'abc' })).toThrow(/<ms>-<n>.*got "abc"/);
      // The largest position is well-formed, if never reached.
      const tail = tailOf(bus, { stream, after: '18446744073709551615-18446744073709551615' });
      expect(((await nextOutcome(tail)) as { error: unknown }).error).toBeInstanceOf(TailGapError);
    });

    it('gives every tail of a stream every event', async () => {
      const bus = await openBus();
      const stream = uniqueStream('broadcast');
      const published = testEvents(40);
      const first = tailOf(bus, { stream });
      const second = tailOf(bus, { stream });
      await bus.publish(stream, published.slice(0, 20));
      const third = tailOf(bus, { stream, after: '0-0' });
      await bus.publish(stream, published.slice(20));

      const [a, b, c] = await Promise.all([take(first, 40), take(second, 40), take(third, 40)]);
      expect(eventIds(a)).toEqual(ids(published));
      expect(b).toEqual(a);
      expect(c).toEqual(a);
    });

    it('ends the iterator on close: a pending read, later reads, and `for await` all finish', async () => {
      const bus = await openBus();
      const stream = uniqueStream('close');
      const tail = tailOf(bus, { stream });
      const pending = nextOutcome(tail);
      await tail.close();
      expect(await pending).toEqual({ done: true });
      await bus.publish(stream, testEvents(2));
      expect(await nextOutcome(tail)).toEqual({ done: true });

      // Breaking out of `for await` closes the tail.
      const looped = tailOf(bus, { stream });
      await bus.publish(stream, testEvents(3));
      const seen: TailedEvent[] = [];
      await within(
        (async () => {
          for await (const tailed of looped) {
            seen.push(tailed);
            if (seen.length === 2) break;
          }
        })(),
        'two events, then break',
      );
      expect(seen).toHaveLength(2);
      expect(await nextOutcome(looped)).toEqual({ done: true });
    });

    it('ends a tail whose consumer falls more than bufferSize behind with a TailOverflowError, after the events it held', async () => {
      const bus = await openBus();
      const stream = uniqueStream('overflow');
      const published = testEvents(12);
      const tail = tailOf(bus, { stream, bufferSize: 5 });
      // One event through first: the tail is live by the time its consumer has it.
      await bus.publish(stream, published.slice(0, 1));
      await take(tail, 1);

      // Nobody reads while eleven arrive: five are held, the sixth overflows.
      const other = tailOf(bus, { stream, after: '0-0' });
      await bus.publish(stream, published.slice(1));
      const all = await take(other, 12, 'another tail of the stream, unaffected');

      const held = await take(tail, 5, 'the events held');
      expect(eventIds(held)).toEqual(ids(published.slice(1, 6)));
      const outcome = await nextOutcome(tail);
      const { error } = outcome as { error: unknown };
      expect(error).toBeInstanceOf(TailOverflowError);
      expect(error).toMatchObject({
        code: 'SUBSCRIBER_TOO_SLOW',
        stream,
        bufferSize: 5,
        lastPosition: held[4]!.position,
      });
      expect(await nextOutcome(tail)).toEqual({ done: true });

      // Its last position resumes the stream where it stopped.
      const resumed = tailOf(bus, { stream, after: (error as TailOverflowError).lastPosition });
      expect(eventIds(await take(resumed, 6))).toEqual(ids(published.slice(6)));
      expect(eventIds(all)).toEqual(ids(published));
    });

    it('ends every tail when the bus closes', async () => {
      const opened = await open();
      const stream = uniqueStream('bus-close');
      const tails = [
        opened.bus.tail({ stream, blockMs: 200 }),
        opened.bus.tail({ stream, after: '0-0', blockMs: 200 }),
      ];
      await opened.bus.publish(stream, testEvents(1));
      await Promise.all(tails.map((tail) => take(tail, 1)));
      const pending = tails.map((tail) => nextOutcome(tail));
      await within(opened.close(), 'the bus closed');
      expect(await Promise.all(pending)).toEqual([{ done: true }, { done: true }]);
    });
  });
}
