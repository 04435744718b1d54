import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeEvent, encodeEvent } from '../../src/events/codec.ts';
import {
  consumersOf,
  defineEvent,
  entityTag,
  InvalidEventError,
  MemoryBus,
  newEvent,
  on,
  rootListTag,
  type DomainEvent,
} from '../../src/events/index.ts';
import { until } from '../../../test/support/until.ts';
import { logger, uniqueStream } from './support.ts';

/** The contract of an event definition, pinned as dataloader pins the messages of a broken batch function. */

const stream = 'shelves';
const shelved = defineEvent({
  type: 'Shelved',
  stream,
  schema: z.object({ sku: z.string(), shelf: z.string(), count: z.number().int().positive() }),
  invalidates: ({ sku }) => [entityTag('Item', sku), rootListTag('items'), entityTag('Item', sku)],
});

describe('defineEvent', () => {
  it('creates an event with its payload checked and its tags computed once each', () => {
    const event = shelved.create('A-1', { sku: 'A-1', shelf: 'top', count: 2 });
    expect(event).toMatchObject({
      type: 'Shelved',
      aggregateId: 'A-1',
      payload: { sku: 'A-1', shelf: 'top', count: 2 },
      invalidates: ['Item:A-1', 'Query:items'],
    });
    expect(shelved.create('A-1', { sku: 'A-1', shelf: 'top', count: 2 }).id).not.toBe(event.id);
  });

  it('refuses a stream name with a brace, which would choose its hash slot on a Redis Cluster', () => {
    for (const name of ['shel}ves', '{shelves}', 'she{lves']) {
      expect(() => defineEvent({ type: 'Shelved', stream: name, schema: z.object({}), invalidates: () => [] })).toThrow(
        /may not hold "\{" or "\}": on a Redis Cluster they choose its hash slot/,
      );
    }
  });

  it('refuses to create an event whose payload breaks the schema, restating the contract', () => {
    const create = () => shelved.create('A-1', { sku: 'A-1', shelf: 'top', count: -1 });
    expect(create).toThrow(InvalidEventError);
    expect(create).toThrow(
      'A Shelved event must carry a payload matching the schema its definition (stream "shelves") gives, ' +
        'but the one given for A-1 does not: count: Too small: expected number to be >0. ' +
        'Payload: {"sku":"A-1","shelf":"top","count":-1}',
    );
  });

  it('parses a received event into its typed payload, and names every field that breaks the schema', () => {
    const received = newEvent('Shelved', 'A-1', { sku: 'A-1', shelf: 'top', count: 1, extra: true });
    expect(shelved.parse(received).payload).toEqual({ sku: 'A-1', shelf: 'top', count: 1 });
    const broken = newEvent('Shelved', 'A-1', { sku: 7, count: 'three' });
    expect(() => shelved.parse(broken)).toThrow(
      new RegExp(
        `^A Shelved event must carry a payload matching the schema its definition \\(stream "shelves"\\) gives, but event ${broken.id} does not: ` +
          'sku: .*; shelf: .*; count: .*\\. Payload: \\{"sku":7,"count":"three"\\}$',
      ),
    );
    expect(() => shelved.parse(newEvent('Unshelved', 'A-1', {}))).toThrow(/expected a Shelved event, got a Unshelved/);
  });
});

describe('event envelopes on a stream', () => {
  it('keep their tags, and an entry from before tags travelled stays readable without them', () => {
    const event = shelved.create('A-1', { sku: 'A-1', shelf: 'top', count: 2 });
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
    const { invalidates: _dropped, ...older } = encodeEvent(event);
    const decoded = decodeEvent(older) as DomainEvent;
    expect(decoded).not.toHaveProperty('invalidates');
    expect(decoded.payload).toEqual(event.payload);
    expect(decodeEvent({ ...encodeEvent(event), invalidates: '{"not":"a list"}' })).toBeInstanceOf(Error);
  });

  it('carry the trace context of the request that recorded them, and none when it was not traced', () => {
    const event = shelved.create('A-1', { sku: 'A-1', shelf: 'top', count: 2 });
    expect(event).not.toHaveProperty('traceparent');
    expect(encodeEvent(event)).not.toHaveProperty('traceparent');
    const traced = { ...event, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    expect(decodeEvent(encodeEvent(traced))).toEqual(traced);
  });
});

describe('consumers', () => {
  it('hand each handler the events of its definition, parsed, and set a broken payload aside with the reason', async () => {
    const bus = new MemoryBus({ logger, retryDelayMs: 10 });
    const topic = uniqueStream('shelves');
    const onTopic = defineEvent({ ...shelvedOptions(), stream: topic });
    const handled: Array<{ sku: string; count: number }> = [];
    const [consumer] = consumersOf<null>([
      on(onTopic, async (event) => {
        handled.push({ sku: event.payload.sku, count: event.payload.count });
      }),
    ]);
    expect(consumer!.stream).toBe(topic);
    const subscription = bus.subscribe({
      stream: topic,
      group: 'g',
      consumer: 'c',
      maxAttempts: 2,
      blockMs: 50,
      handle: (event) => consumer!.handle(event, null),
    });
    try {
      const broken = newEvent('Shelved', 'B-2', { sku: 'B-2', count: 'many' });
      await bus.publish(topic, [
        broken,
        newEvent('SomethingElse', 'X', {}),
        onTopic.create('A-1', { sku: 'A-1', shelf: 'top', count: 3 }),
      ]);
      await until(async () => (await bus.readDeadLetters(topic)).length === 1 && handled.length === 1, {
        what: 'the broken event dead-lettered and the good one handled',
      });
      const [letter] = await bus.readDeadLetters(topic);
      expect(letter).toMatchObject({ event: { id: broken.id }, attempts: 2 });
      expect(letter!.reason).toMatch(/^A Shelved event must carry a payload matching the schema .* count: /);
      expect(handled).toEqual([{ sku: 'A-1', count: 3 }]);
    } finally {
      await subscription.stop();
      await bus.close();
    }
  });

  it('refuse two handlers of one event', () => {
    const noop = async () => {};
    expect(() => consumersOf([on(shelved, noop), on(shelved, noop)])).toThrow(/Shelved is handled twice/);
  });
});

function shelvedOptions() {
  return {
    type: 'Shelved' as const,
    schema: z.object({ sku: z.string(), shelf: z.string(), count: z.number().int().positive() }),
    invalidates: ({ sku }: { sku: string }) => [entityTag('Item', sku)],
  };
}
