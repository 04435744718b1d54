import { GraphQLError, type ExecutionResult } from 'graphql';
import { ErrorCode } from '../../../platform/src/errors.ts';
import type { Viewer } from '../../../platform/src/identity.ts';

/**
 * Identical subscriptions share one upstream. A thousand shoppers watching
 * one product's stock are one subscription to the inventory subgraph and
 * one entity fetch per event, not a thousand of each: each event is
 * completed and shaped once, then handed to every subscriber. Without it
 * an event's cost, and its latency to the last subscriber, grows with the
 * number of subscribers.
 *
 * Own code: the subscription libraries serve one client's operation each;
 * sharing depends on the router's plan, identity and resume positions.
 *
 * What may be shared (`fanOutKey`) is what would send the subgraphs the
 * same requests:
 * - the same document, operation, variables, graph and override labels;
 * - the same caller: anonymous callers share with each other, a signed-in
 *   caller with their own subscriptions only. The subgraphs receive the
 *   caller's identity with every subscription and entity fetch, and may
 *   answer any field by it, declared (`@authenticated`) or not, so
 *   signed-in callers' events are never computed once for several;
 * - live only: a client resuming after a position gets its own upstream,
 *   which replays what it missed.
 */
export class SubscriptionFanOut {
  private readonly upstreams = new Map<string, Upstream>();

  /** `maxQueued`: events a subscriber may fall behind the others before it is closed as too slow. */
  constructor(private readonly maxQueued = 1_000) {}

  /** Upstreams open now (each shared by one or more subscribers). */
  get upstreamCount(): number {
    return this.upstreams.size;
  }

  /**
   * A subscriber's events: from the upstream running under `key`, or from
   * one `open` starts. The upstream is ended (its signal aborted) when its
   * last subscriber leaves.
   */
  join(
    key: string,
    open: (signal: AbortSignal) => AsyncIterator<ExecutionResult>,
    onTooSlow: () => void = () => {},
  ): AsyncIterableIterator<ExecutionResult> {
    let upstream = this.upstreams.get(key);
    if (!upstream) {
      const created = new Upstream(() => {
        if (this.upstreams.get(key) === created) this.upstreams.delete(key);
      });
      upstream = created;
      this.upstreams.set(key, created);
      created.start(open(created.abort.signal));
    }
    return upstream.add(this.maxQueued, onTooSlow);
  }
}

/** One running subscription and the subscribers it fans out to. */
class Upstream {
  readonly abort = new AbortController();
  private readonly subscribers = new Set<Subscriber>();
  private finished = false;

  constructor(private readonly onFinished: () => void) {}

  add(maxQueued: number, onTooSlow: () => void): Subscriber {
    const subscriber = new Subscriber(maxQueued, onTooSlow, () => this.remove(subscriber));
    this.subscribers.add(subscriber);
    return subscriber;
  }

  start(events: AsyncIterator<ExecutionResult>): void {
    void this.pump(events);
  }

  private async pump(events: AsyncIterator<ExecutionResult>): Promise<void> {
    try {
      for (;;) {
        const next = await events.next();
        if (next.done || this.abort.signal.aborted) break;
        for (const subscriber of this.subscribers) subscriber.push(next.value);
      }
    } catch (error) {
      // subscriptionEvents answers its failures as an event: this is a fault of the router's own.
      const failed = new GraphQLError(
        'The subscription was interrupted. Subscribe again to resume after the last event.',
        {
          extensions: { code: ErrorCode.SubgraphUnavailable },
          originalError: error instanceof Error ? error : undefined,
        },
      );
      for (const subscriber of this.subscribers) subscriber.push({ errors: [failed] });
    } finally {
      this.finish();
      for (const subscriber of this.subscribers) subscriber.end();
    }
  }

  private remove(subscriber: Subscriber): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0) {
      // Nobody is left to hear it: the subgraph's subscription ends now, not at its next event.
      this.finish();
      this.abort.abort();
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.onFinished();
  }
}

const done = { done: true, value: undefined } as const;

/** One subscriber's events, queued until its transport takes them; `return()` ends it at once. */
class Subscriber implements AsyncIterableIterator<ExecutionResult> {
  private readonly queue: ExecutionResult[] = [];
  private waiting: ((result: IteratorResult<ExecutionResult>) => void) | null = null;
  /** No more events will be queued: the upstream ended, or this subscriber fell behind. */
  private ending = false;
  private closed = false;

  constructor(
    private readonly maxQueued: number,
    private readonly onTooSlow: () => void,
    private readonly onClose: () => void,
  ) {}

  push(event: ExecutionResult): void {
    if (this.ending) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ done: false, value: event });
      return;
    }
    if (this.queue.length >= this.maxQueued) {
      // Held events are dropped rather than grown without bound; the position of the last one taken resumes it.
      this.queue.length = 0;
      this.queue.push({ errors: [tooSlow()] });
      this.onTooSlow();
      this.end();
      this.close();
      return;
    }
    this.queue.push(event);
  }

  /** No more events: those queued are still delivered, then the end. */
  end(): void {
    this.ending = true;
    if (this.waiting && this.queue.length === 0) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve(done);
    }
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    const event = this.queue.shift();
    if (event) return Promise.resolve({ done: false, value: event });
    if (this.ending || this.closed) return Promise.resolve(done);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    this.queue.length = 0;
    this.end();
    this.close();
    return Promise.resolve(done);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ExecutionResult> {
    return this;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

function tooSlow(): GraphQLError {
  return new GraphQLError(
    'This subscriber fell too far behind its events and was closed. Subscribe again after the last position received.',
    { extensions: { code: ErrorCode.SubscriberTooSlow } },
  );
}

/** What makes two subscriptions the same upstream (SubscriptionFanOut); null when they cannot share one. */
export function fanOutKey(about: {
  queryHash: string;
  operationName: string | null;
  variables: Record<string, unknown>;
  overrideLabels: ReadonlySet<string>;
  resumeAfter: string | null;
  viewer: Viewer | null;
}): string | null {
  if (about.resumeAfter !== null) return null;
  const { viewer } = about;
  return JSON.stringify([
    // What the identity the subgraphs receive says (platform/src/identity.ts): the id and the scopes.
    viewer ? ['user', viewer.id, [...viewer.scopes].sort()] : ['anonymous'],
    about.queryHash,
    about.operationName,
    [...about.overrideLabels].sort(),
    canonical(about.variables),
  ]);
}

/** Object keys sorted, so `{a, b}` and `{b, a}` share. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  return value;
}
