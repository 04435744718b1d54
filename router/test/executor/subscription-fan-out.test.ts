import type { ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { fanOutKey, SubscriptionFanOut } from '../../src/executor/subscription-fan-out.ts';

/** An upstream the test feeds by hand, recording when it is opened and ended. */
function manualUpstream() {
  const opened: AbortSignal[] = [];
  let push: (event: ExecutionResult | null) => void = () => {};
  const open = (signal: AbortSignal): AsyncIterator<ExecutionResult> => {
    opened.push(signal);
    const queued: (ExecutionResult | null)[] = [];
    let waiting: ((value: IteratorResult<ExecutionResult>) => void) | null = null;
    const settle = (event: ExecutionResult | null) =>
      event ? { done: false as const, value: event } : { done: true as const, value: undefined };
    push = (event) => {
      if (waiting) {
        const resolve = waiting;
        waiting = null;
        resolve(settle(event));
      } else queued.push(event);
    };
    signal.addEventListener('abort', () => push(null));
    return {
      next: () =>
        queued.length > 0 ? Promise.resolve(settle(queued.shift()!)) : new Promise((resolve) => (waiting = resolve)),
    };
  };
  return { open, opened, push: (event: ExecutionResult | null) => push(event) };
}

const event = (quantity: number): ExecutionResult => ({ data: { stockChanged: { quantity } } });

describe('SubscriptionFanOut', () => {
  it('opens one upstream for subscribers of the same key and hands each of them every event', async () => {
    const fanOut = new SubscriptionFanOut();
    const upstream = manualUpstream();
    const first = fanOut.join('k', upstream.open);
    const second = fanOut.join('k', upstream.open);
    expect(upstream.opened).toHaveLength(1);
    expect(fanOut.upstreamCount).toBe(1);
    upstream.push(event(1));
    upstream.push(event(2));
    for (const subscriber of [first, second]) {
      expect((await subscriber.next()).value).toEqual(event(1));
      expect((await subscriber.next()).value).toEqual(event(2));
    }
    const other = manualUpstream();
    void fanOut.join('other', other.open);
    expect(other.opened).toHaveLength(1);
    expect(fanOut.upstreamCount).toBe(2);
  });

  it('ends the upstream when its last subscriber leaves, and opens a new one for the next', async () => {
    const fanOut = new SubscriptionFanOut();
    const upstream = manualUpstream();
    const first = fanOut.join('k', upstream.open);
    const second = fanOut.join('k', upstream.open);
    const waiting = first.next();
    await first.return!();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(upstream.opened[0]!.aborted).toBe(false);
    await second.return!();
    expect(upstream.opened[0]!.aborted).toBe(true);
    expect(fanOut.upstreamCount).toBe(0);
    void fanOut.join('k', upstream.open);
    expect(upstream.opened).toHaveLength(2);
  });

  it('delivers what is queued, then the end, when the upstream ends', async () => {
    const fanOut = new SubscriptionFanOut();
    const upstream = manualUpstream();
    const subscriber = fanOut.join('k', upstream.open);
    upstream.push(event(1));
    upstream.push(null);
    expect((await subscriber.next()).value).toEqual(event(1));
    expect(await subscriber.next()).toEqual({ done: true, value: undefined });
    expect(fanOut.upstreamCount).toBe(0);
  });

  it('closes a subscriber that falls behind with SUBSCRIBER_TOO_SLOW, and the others go on', async () => {
    const fanOut = new SubscriptionFanOut(3);
    const upstream = manualUpstream();
    let closedTooSlow = 0;
    const slow = fanOut.join('k', upstream.open, () => closedTooSlow++);
    const keeping = fanOut.join('k', upstream.open);
    const received: ExecutionResult[] = [];
    for (let quantity = 1; quantity <= 5; quantity++) {
      upstream.push(event(quantity));
      // Let the upstream hand the event on before the keeping subscriber takes it.
      await new Promise((resolve) => setImmediate(resolve));
      received.push((await keeping.next()).value as ExecutionResult);
    }
    expect(received).toEqual([1, 2, 3, 4, 5].map(event));
    const last = await slow.next();
    expect(last.value?.errors?.[0]?.extensions?.code).toBe('SUBSCRIBER_TOO_SLOW');
    expect(await slow.next()).toEqual({ done: true, value: undefined });
    expect(closedTooSlow).toBe(1);
    expect(upstream.opened[0]!.aborted).toBe(false);
  });
});

describe('fanOutKey', () => {
  const base = {
    queryHash: 'h',
    operationName: null,
    variables: { productId: '1', first: 2 },
    overrideLabels: new Set<string>(),
    resumeAfter: null,
    viewer: { id: 'u1', scopes: ['b', 'a'] } as { id: string; scopes: string[] } | null,
  };

  it("shares among anonymous callers, and among one signed-in caller's own subscriptions only", () => {
    const anonymous = { ...base, viewer: null };
    expect(fanOutKey(anonymous)).toBe(fanOutKey({ ...anonymous }));
    expect(fanOutKey(anonymous)).not.toBe(fanOutKey(base));
    expect(fanOutKey(base)).not.toBe(fanOutKey({ ...base, viewer: { id: 'u2', scopes: ['a', 'b'] } }));
    expect(fanOutKey(base)).toBe(fanOutKey({ ...base, viewer: { id: 'u1', scopes: ['a', 'b'] } }));
    expect(fanOutKey(base)).not.toBe(fanOutKey({ ...base, viewer: { id: 'u1', scopes: ['a'] } }));
  });

  it('tells operations, variables and labels apart, whatever the order of keys', () => {
    expect(fanOutKey({ ...base, variables: { first: 2, productId: '1' } })).toBe(fanOutKey(base));
    expect(fanOutKey({ ...base, variables: { productId: '2', first: 2 } })).not.toBe(fanOutKey(base));
    expect(fanOutKey({ ...base, queryHash: 'other' })).not.toBe(fanOutKey(base));
    expect(fanOutKey({ ...base, operationName: 'Stock' })).not.toBe(fanOutKey(base));
    expect(fanOutKey({ ...base, overrideLabels: new Set(['percent(50)']) })).not.toBe(fanOutKey(base));
  });

  it('never shares a subscription that resumes after a position: it replays on its own', () => {
    expect(fanOutKey({ ...base, resumeAfter: '1-0' })).toBeNull();
  });
});
