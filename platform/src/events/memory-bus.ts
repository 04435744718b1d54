import type { Logger } from '../logger.ts';
import { decodeDeadLetter, decodeEvent, encodeDeadLetter, encodeEvent, type EntryFields } from './codec.ts';
import { runSubscription, trackedIn, type Delivery, type GroupReader } from './consumer.ts';
import { comparePositions, gapAfter, LiveFanOut, openTail, type TailSource } from './tail.ts';
import {
  deadLetterStream,
  type DeadLetter,
  type DomainEvent,
  type EventBus,
  type EventBusStats,
  type EventTail,
  type SubscribeOptions,
  type Subscription,
  type TailOptions,
} from './types.ts';

export interface MemoryBusOptions {
  logger: Logger;
  /** Entries kept per stream, roughly; older ones are dropped, read or not, as Redis trims. Default: 100,000. */
  maxLen?: number;
  /**
   * A delivery not acknowledged for this long is handed to another consumer
   * of the group, as Redis does for a dead consumer; here that means a
   * handler that hangs. Default: 30,000 ms.
   */
  claimIdleMs?: number;
  /** Redelivery delay after a handler's first failure, doubling with each further one. Default: 500 ms. */
  retryDelayMs?: number;
}

interface Entry {
  seq: number;
  fields: Readonly<EntryFields>;
}

interface PendingEntry {
  consumer: string;
  deliveries: number;
  /** When it may be handed to any consumer of the group: delivery time + claimIdleMs, or sooner for a retry. */
  claimableAt: number;
}

interface Group {
  /** Highest seq delivered to the group. */
  lastDelivered: number;
  /** Delivered and not acknowledged, by seq. */
  pending: Map<number, PendingEntry>;
}

class Stream {
  entries: Entry[] = [];
  nextSeq = 1;
  /** The seq of the newest entry trimmed away, 0 when none: tails after an older position missed something. */
  trimmedThrough = 0;
  readonly groups = new Map<string, Group>();
  /** Readers waiting for something to happen on this stream. */
  readonly waiters = new Set<() => void>();
  /** The live part of this stream's tails, while it has any. */
  live: LiveFanOut | null = null;

  append(fields: EntryFields, maxLen: number): void {
    const entry = { seq: this.nextSeq++, fields: Object.freeze({ ...fields }) };
    this.entries.push(entry);
    this.live?.deliver({ position: position(entry.seq), fields: entry.fields });
    // Trimmed in chunks, like Redis's `MAXLEN ~`: dropping one entry per append would copy the array each time.
    if (this.entries.length > maxLen + Math.ceil(maxLen / 100)) {
      this.trimmedThrough = this.entries[this.entries.length - maxLen - 1]!.seq;
      this.entries.splice(0, this.entries.length - maxLen);
    }
  }

  find(seq: number): Entry | undefined {
    // Entries are in seq order with no gaps after the first one.
    const first = this.entries[0];
    return first ? this.entries[seq - first.seq] : undefined;
  }

  group(name: string): Group {
    let group = this.groups.get(name);
    if (!group) {
      // Like XGROUP CREATE ... 0: a new group reads whatever the stream still holds.
      group = { lastDelivered: (this.entries[0]?.seq ?? this.nextSeq) - 1, pending: new Map() };
      this.groups.set(name, group);
    }
    return group;
  }

  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

/** An entry's position, shaped like a Redis stream entry id so that clients see one kind of position. */
function position(seq: number): string {
  return `${seq}-0`;
}

/**
 * The event bus for the embedded default, where there is no Redis: the same
 * semantics as `RedisStreamsBus` (consumer groups, at-least-once delivery,
 * redelivery after a failure, dead letters after `maxAttempts`, stats), in
 * this process's memory.
 *
 * Two limits follow from "in this process": only subscribers in the same
 * process see an event, and entries live as long as the process, so an event
 * the outbox relay handed over (and marked published) but no consumer has
 * finished yet is gone if the process dies. Where either matters, use Redis.
 */
export class MemoryBus implements EventBus {
  private readonly streams = new Map<string, Stream>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly tails = new Set<EventTail>();
  private readonly logger: Logger;
  private readonly maxLen: number;
  private readonly claimIdleMs: number;
  private readonly retryDelayMs: number;

  constructor({ logger, maxLen = 100_000, claimIdleMs = 30_000, retryDelayMs = 500 }: MemoryBusOptions) {
    this.logger = logger.child({ component: 'events', bus: 'memory' });
    this.maxLen = maxLen;
    this.claimIdleMs = claimIdleMs;
    this.retryDelayMs = retryDelayMs;
  }

  async publish(stream: string, events: readonly DomainEvent[]): Promise<void> {
    // Encoding first: a payload JSON cannot carry fails the whole call before anything is stored.
    const encoded = events.map(encodeEvent);
    if (encoded.length === 0) return;
    const target = this.stream(stream);
    for (const fields of encoded) target.append(fields, this.maxLen);
    target.notify();
  }

  subscribe(options: SubscribeOptions): Subscription {
    const reader = new MemoryGroupReader(this.stream(options.stream), this.stream(deadLetterStream(options.stream)), {
      ...options,
      claimIdleMs: this.claimIdleMs,
      maxLen: this.maxLen,
    });
    return trackedIn(
      this.subscriptions,
      runSubscription(
        reader,
        options,
        { retryDelayMs: this.retryDelayMs, maxRetryDelayMs: this.claimIdleMs },
        this.logger,
      ),
    );
  }

  /** `blockMs` means nothing here: an append hands its entry to the live tails as it happens. */
  tail(options: TailOptions): EventTail {
    return openTail(this.tailSource(options.stream), options, this.tails, this.logger);
  }

  async stats(stream: string, group: string): Promise<EventBusStats> {
    const target = this.streams.get(stream);
    const deadLetters = this.streams.get(deadLetterStream(stream))?.entries.length ?? 0;
    const length = target?.entries.length ?? 0;
    const state = target?.groups.get(group);
    if (!target || !state) return { length, pending: 0, lag: length, deadLetters };
    const lag = target.nextSeq - 1 - Math.max(state.lastDelivered, (target.entries[0]?.seq ?? target.nextSeq) - 1);
    return { length, pending: state.pending.size, lag, deadLetters };
  }

  /** The newest `count` dead letters of `stream`, oldest first. */
  async readDeadLetters(stream: string, count = 100): Promise<DeadLetter[]> {
    const entries = this.streams.get(deadLetterStream(stream))?.entries ?? [];
    return entries.slice(-count).map((entry) => decodeDeadLetter(entry.fields));
  }

  async close(): Promise<void> {
    await Promise.all([
      ...[...this.subscriptions].map((subscription) => subscription.stop()),
      ...[...this.tails].map((tail) => tail.close()),
    ]);
  }

  /** All synchronous, so no entry can be appended between a replay's last read and its joining the live tails. */
  private tailSource(name: string): TailSource {
    const stream = this.stream(name);
    const history = () => ({ newest: position(stream.nextSeq - 1), completeAfter: position(stream.trimmedThrough) });
    return {
      stream: name,
      newest: async () => history().newest,
      read: async (after, count) => {
        const gap = gapAfter(after, history());
        if (gap !== null) return { entries: [], gap };
        // Not past the newest position, `after`'s first part is a seq, at least trimmedThrough; the
        // entries run seq by seq from trimmedThrough + 1, so the first one after it is at this index.
        const start = Number(after.slice(0, after.indexOf('-'))) - stream.trimmedThrough;
        const entries = stream.entries
          .slice(start, start + count)
          .map((entry) => ({ position: position(entry.seq), fields: entry.fields }));
        return { entries, gap: null };
      },
      join: (tail, caughtUpTo) => {
        stream.live ??= new LiveFanOut(position(stream.nextSeq - 1), this.logger.child({ stream: name }));
        if (comparePositions(stream.live.position, caughtUpTo) > 0) return false;
        stream.live.add(tail);
        return true;
      },
      leave: async (tail) => {
        if (stream.live?.delete(tail) && stream.live.size === 0) stream.live = null;
      },
    };
  }

  private stream(name: string): Stream {
    let stream = this.streams.get(name);
    if (!stream) {
      stream = new Stream();
      this.streams.set(name, stream);
    }
    return stream;
  }
}

class MemoryGroupReader implements GroupReader {
  private readonly group: Group;

  constructor(
    private readonly stream: Stream,
    private readonly dead: Stream,
    private readonly options: SubscribeOptions & { claimIdleMs: number; maxLen: number },
  ) {
    this.group = stream.group(options.group);
  }

  async read(batchSize: number, blockMs: number, signal: AbortSignal): Promise<Delivery[]> {
    const deadline = Date.now() + blockMs;
    for (;;) {
      const batch = this.take(batchSize);
      const now = Date.now();
      if (batch.length > 0 || signal.aborted || now >= deadline) return batch;
      await this.wait(Math.min(deadline, this.nextClaimableAt()) - now, signal);
    }
  }

  async ack(delivery: Delivery): Promise<void> {
    this.group.pending.delete(Number(delivery.entryId));
  }

  async retryLater(delivery: Delivery, delayMs: number): Promise<void> {
    const pending = this.group.pending.get(Number(delivery.entryId));
    if (pending) pending.claimableAt = Date.now() + delayMs;
    this.stream.notify();
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<void> {
    const { group, consumer } = this.options;
    this.dead.append(
      encodeDeadLetter(delivery.fields, { reason, attempts: delivery.attempt, group, consumer }),
      this.options.maxLen,
    );
    this.dead.notify();
    this.group.pending.delete(Number(delivery.entryId));
  }

  async release(deliveries: readonly Delivery[]): Promise<void> {
    const now = Date.now();
    for (const delivery of deliveries) {
      const pending = this.group.pending.get(Number(delivery.entryId));
      if (!pending) continue;
      pending.claimableAt = now;
      // This delivery never reached the handler, so it does not count as an attempt.
      pending.deliveries = delivery.attempt - 1;
    }
    this.stream.notify();
  }

  async close(): Promise<void> {}

  /** Claimable pending entries first (oldest first), then new ones: all synchronous, so no two consumers get the same one. */
  private take(batchSize: number): Delivery[] {
    const now = Date.now();
    const { consumer } = this.options;
    const taken: Array<{ seq: number; pending: PendingEntry }> = [];
    const claimable = [...this.group.pending]
      .filter(([, pending]) => pending.claimableAt <= now)
      .sort(([a], [b]) => a - b);
    for (const [seq, pending] of claimable) {
      if (taken.length >= batchSize) break;
      if (!this.stream.find(seq)) {
        // Trimmed away while pending: nothing left to deliver (Redis drops these from the PEL too).
        this.group.pending.delete(seq);
        continue;
      }
      pending.consumer = consumer;
      pending.deliveries++;
      pending.claimableAt = now + this.options.claimIdleMs;
      taken.push({ seq, pending });
    }
    const { entries } = this.stream;
    const firstSeq = entries[0]?.seq ?? this.stream.nextSeq;
    for (let index = Math.max(0, this.group.lastDelivered + 1 - firstSeq); index < entries.length; index++) {
      if (taken.length >= batchSize) break;
      const entry = entries[index]!;
      const pending = { consumer, deliveries: 1, claimableAt: now + this.options.claimIdleMs };
      this.group.pending.set(entry.seq, pending);
      this.group.lastDelivered = entry.seq;
      taken.push({ seq: entry.seq, pending });
    }
    return taken.map(({ seq, pending }) => {
      const { fields } = this.stream.find(seq)!;
      return { entryId: String(seq), fields, event: decodeEvent(fields), attempt: pending.deliveries };
    });
  }

  private nextClaimableAt(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const pending of this.group.pending.values()) next = Math.min(next, pending.claimableAt);
    return next;
  }

  /** Resolves after `ms`, when the stream changes, or when `signal` aborts. */
  private wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stream.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.stream.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
