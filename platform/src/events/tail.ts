import type { Logger } from '../logger.ts';
import { decodeEvent, type EntryFields } from './codec.ts';
import { pause } from './consumer.ts';
import type { DomainEvent, EventTail, TailedEvent, TailOptions } from './types.ts';

/**
 * Reading a stream from a position (`EventBus.tail`), shared by both buses
 * so that replay, joining the live stream, backpressure and the errors
 * behave the same whatever stores the stream. A bus supplies a `TailSource`
 * for the stream; this file does the rest.
 *
 * A tail first replays: it reads the entries after its position page by
 * page, only as fast as its consumer takes them. Once a page shows it has
 * caught up, it joins the stream's live fan-out, which a bus runs once per
 * stream however many tails read it (for Redis, one blocking XREAD). Joining
 * succeeds only if the fan-out has handed out nothing past what the tail has
 * read; otherwise the tail reads again. So whatever the fan-out hands out
 * next follows what the tail has, and what it hands out that the tail read
 * already (a read in flight when it joined) is dropped by position.
 */

export const tailDefaults = { blockMs: 1_000, bufferSize: 1_000 } as const;

/** Entries per replay read: enough to replay quickly, few enough that one read never holds Redis up. */
const replayPageSize = 200;
/** Pause before reading again when the fan-out is ahead of a read that found nothing (see `replay`). */
const emptyReadPauseMs = 100;
/** Longest pause after the bus fails (e.g. Redis is down) before trying again. */
const maxErrorBackoffMs = 2_000;
/** At most one "still failing" log line per this interval per loop. */
const failureLogIntervalMs = 10_000;

/**
 * The position a tail asked to start after is one the stream no longer
 * holds everything after (trimmed to its retention), or one it never reached
 * (it was deleted and recreated): what was published since is unknown. The
 * reader must start over from current state (refetch) and tail from now.
 */
export class TailGapError extends Error {
  readonly code = 'STREAM_POSITION_EXPIRED' as const;

  constructor(
    readonly stream: string,
    /** The position the tail could not go on from. */
    readonly after: string,
    reason: string,
  ) {
    super(`cannot read ${stream} after ${after}: ${reason}; what was published since is unknown`);
    this.name = 'TailGapError';
  }
}

/**
 * The tail's consumer fell more than `bufferSize` live events behind the
 * stream. The events held before this error were delivered, so a new tail
 * `after: lastPosition` resumes with no gap, as long as the stream still
 * holds them.
 */
export class TailOverflowError extends Error {
  readonly code = 'SUBSCRIBER_TOO_SLOW' as const;

  constructor(
    readonly stream: string,
    readonly bufferSize: number,
    /** The position of the last event this tail delivered or replayed past, or where it started. */
    readonly lastPosition: string,
  ) {
    super(
      `tail of ${stream} closed: its consumer fell more than ${bufferSize} events behind (last position ${lastPosition})`,
    );
    this.name = 'TailOverflowError';
  }
}

/** `after` is not a stream position; thrown by `tail` itself, as the caller passed it. */
export class InvalidPositionError extends TypeError {
  readonly code = 'INVALID_STREAM_POSITION' as const;

  constructor(readonly position: unknown) {
    super(
      `a stream position is "<ms>-<n>", two integers below 2^64 as events carry it (e.g. "1733400000000-0"); got ${JSON.stringify(position)}`,
    );
    this.name = 'InvalidPositionError';
  }
}

const positionPattern = /^(\d{1,20})-(\d{1,20})$/;
const maxPart = 2n ** 64n - 1n;

/**
 * `text` as a position in canonical form (no leading zeros), which
 * `comparePositions` relies on; an `InvalidPositionError` if it is not one.
 */
export function parsePosition(text: unknown): string {
  const match = typeof text === 'string' ? positionPattern.exec(text) : null;
  if (!match) throw new InvalidPositionError(text);
  const [ms, n] = [BigInt(match[1]!), BigInt(match[2]!)];
  if (ms > maxPart || n > maxPart) throw new InvalidPositionError(text);
  return `${ms}-${n}`;
}

/**
 * Orders two canonical positions as Redis orders stream ids: by the first
 * number, then by the second. Shorter digit strings are smaller numbers,
 * which spares parsing positions on every event of every tail.
 */
export function comparePositions(a: string, b: string): number {
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  return compareDigits(a.slice(0, dashA), b.slice(0, dashB)) || compareDigits(a.slice(dashA + 1), b.slice(dashB + 1));
}

function compareDigits(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** What a stream says of its history, for deciding whether a reader after some position can miss nothing. */
export interface StreamHistory {
  /** The newest position the stream has ever given out; `0-0` when none. */
  newest: string;
  /** The stream holds every entry after this position (all of them, when nothing was ever removed: `0-0`). */
  completeAfter: string;
}

/** Why a reader after `after` cannot know what it missed, or `null` when it can. */
export function gapAfter(after: string, history: StreamHistory): string | null {
  if (comparePositions(after, history.newest) > 0) {
    return `the stream never reached that position (its newest is ${history.newest}): it was recreated since, or the position is from elsewhere`;
  }
  if (comparePositions(after, history.completeAfter) < 0) {
    return `the stream was trimmed past it (it holds everything after ${history.completeAfter})`;
  }
  return null;
}

export interface StreamEntry {
  position: string;
  fields: EntryFields;
}

export interface ReplayPage {
  /** Up to the requested count of the entries after the position asked for, oldest first. */
  entries: StreamEntry[];
  /** Set (to why) when the stream does not hold every entry after that position: the entries are then not to be used. */
  gap: string | null;
}

/** What a bus provides for the tails of one stream. Reads may reject (Redis away): the tail retries them. */
export interface TailSource {
  readonly stream: string;
  /** The newest position the stream has given out, `0-0` when none: where a tail of live events starts. */
  newest(): Promise<string>;
  /** The first `count` entries after `after`, read together with whether the stream still holds all of them. */
  read(after: string, count: number): Promise<ReplayPage>;
  /**
   * Adds `tail` to the stream's live fan-out, unless that has handed out
   * entries after `caughtUpTo`, which the tail must read first: then false.
   * Synchronous, so nothing is handed out between the check and the join.
   */
  join(tail: LiveTail, caughtUpTo: string): boolean;
  /** Removes `tail` from the fan-out (if there); resolves once what the stream's last tail kept running has stopped. */
  leave(tail: LiveTail): Promise<void>;
}

/** A tail as the live fan-out sees it. */
export interface LiveTail {
  readonly blockMs: number;
  /** The next live event: called in stream order, possibly with entries the tail has already replayed. */
  live(position: string, event: DomainEvent): void;
}

/**
 * The live part of every tail of one stream: each new entry, decoded once,
 * handed to every tail in stream order.
 */
export class LiveFanOut {
  private readonly tails = new Set<LiveTail>();

  constructor(
    /** The position of the last entry handed out (or skipped): the next one follows it. */
    public position: string,
    /** Bound to the stream's name. */
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.tails.size;
  }

  /** The shortest `blockMs` among the tails, so a read never waits longer than any of them asked. */
  get blockMs(): number {
    let shortest = Number.POSITIVE_INFINITY;
    for (const tail of this.tails) shortest = Math.min(shortest, tail.blockMs);
    return Number.isFinite(shortest) ? shortest : tailDefaults.blockMs;
  }

  add(tail: LiveTail): void {
    this.tails.add(tail);
  }

  /** Whether `tail` was there. */
  delete(tail: LiveTail): boolean {
    return this.tails.delete(tail);
  }

  deliver({ position, fields }: StreamEntry): void {
    this.position = position;
    if (this.tails.size === 0) return;
    const event = decodeEvent(fields);
    if (event instanceof Error) {
      skipUnreadable(this.logger, position, event);
      return;
    }
    // A copy: a tail that overflows leaves the set while we go through it.
    for (const tail of [...this.tails]) tail.live(position, event);
  }
}

function skipUnreadable(logger: Logger, position: string, error: Error): void {
  // Never stops a tail: one bad entry must not end every subscription to its stream.
  logger.warn({ position, reason: error.message }, 'event tail: skipped an entry that is not an event');
}

/**
 * Backoff and log throttling for a loop that keeps trying while its bus is
 * failing: a warning when a streak starts and every `failureLogIntervalMs`
 * while it lasts, and one line when it ends.
 */
export class RetryStreak {
  private failures = 0;
  private lastLog = 0;

  constructor(
    private readonly logger: Logger,
    private readonly doing: string,
  ) {}

  /** Logs (throttled) and pauses before the next attempt; returns early when `signal` aborts. */
  async failed(error: unknown, signal: AbortSignal): Promise<void> {
    const now = Date.now();
    if (this.failures === 0 || now - this.lastLog > failureLogIntervalMs) {
      this.logger.warn({ err: error }, `event tail: ${this.doing} failed; retrying`);
      this.lastLog = now;
    }
    this.failures++;
    await pause(Math.min(50 * 2 ** this.failures, maxErrorBackoffMs), signal);
  }

  worked(): void {
    if (this.failures > 0) this.logger.info(`event tail: ${this.doing} works again`);
    this.failures = 0;
  }
}

/**
 * A tail of `source`, kept in `open` until it closes: a bus closes whatever
 * is still in it when it closes. Throws `InvalidPositionError` at once for
 * a malformed `after`.
 */
export function openTail(source: TailSource, options: TailOptions, open: Set<EventTail>, logger: Logger): EventTail {
  const after = options.after === undefined ? undefined : parsePosition(options.after);
  const bufferSize = options.bufferSize ?? tailDefaults.bufferSize;
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new TypeError(`tail: bufferSize must be a positive integer, got ${bufferSize}`);
  }
  const tail = new Tail(source, {
    after,
    bufferSize,
    blockMs: options.blockMs ?? tailDefaults.blockMs,
    logger: logger.child({ stream: source.stream }),
    onClosed: () => open.delete(tail),
  });
  open.add(tail);
  return tail;
}

type Phase =
  /** Reading what followed its position, not yet in the live fan-out. */
  | { name: 'replaying' }
  /** In the live fan-out. */
  | { name: 'live' }
  /** Nothing more comes in: the events held are delivered, then `error` is thrown. */
  | { name: 'failing'; error: Error }
  /** The iterator is done. */
  | { name: 'closed' };

interface TailSettings {
  after: string | undefined;
  bufferSize: number;
  blockMs: number;
  logger: Logger;
  onClosed(): void;
}

class Tail implements EventTail, AsyncIterator<TailedEvent>, LiveTail {
  readonly blockMs: number;
  private phase: Phase = { name: 'replaying' };
  private readonly held: TailedEvent[] = [];
  /**
   * Once live, the position up to which this tail has had the stream (by its replay, or
   * live): a live entry up to it is one the replay already read, a duplicate.
   */
  private passed: string;
  /** Whoever waits for the tail to change: the consumer for an event, the replay for room. */
  private readonly waiters = new Set<() => void>();
  private readonly stopping = new AbortController();
  private readonly replayed: Promise<void>;
  private left: Promise<void> | null = null;

  constructor(
    private readonly source: TailSource,
    private readonly settings: TailSettings,
  ) {
    this.blockMs = settings.blockMs;
    this.passed = settings.after ?? '0-0';
    this.replayed = this.replay().catch((error: unknown) => {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<TailedEvent> {
    return this;
  }

  async next(): Promise<IteratorResult<TailedEvent>> {
    for (;;) {
      if (this.phase.name === 'closed') return { done: true, value: undefined };
      const event = this.held.shift();
      if (event) {
        this.notify();
        return { done: false, value: event };
      }
      if (this.phase.name === 'failing') {
        const { error } = this.phase;
        this.phase = { name: 'closed' };
        this.release();
        throw error;
      }
      await this.changed();
    }
  }

  async return(): Promise<IteratorResult<TailedEvent>> {
    await this.close();
    return { done: true, value: undefined };
  }

  async close(): Promise<void> {
    if (this.phase.name !== 'closed') {
      this.phase = { name: 'closed' };
      this.held.length = 0;
      this.stopping.abort();
      this.notify();
    }
    this.release();
    await this.replayed;
    await this.left;
  }

  live(position: string, event: DomainEvent): void {
    if (this.phase.name !== 'live' || comparePositions(position, this.passed) <= 0) return;
    if (this.held.length >= this.settings.bufferSize) {
      this.fail(new TailOverflowError(this.source.stream, this.settings.bufferSize, this.passed));
      return;
    }
    this.passed = position;
    this.held.push({ position, event });
    this.notify();
  }

  /** Replays from the position until caught up, then joins the live fan-out; ends early if the tail stops. */
  private async replay(): Promise<void> {
    const { after, bufferSize, logger } = this.settings;
    let cursor = after ?? (await this.retrying('finding the newest position', () => this.source.newest()));
    // Live only: the fan-out may already be at `cursor`, and then there is nothing to read first.
    let caughtUp = after === undefined;
    let lastReadEmpty = false;
    while (cursor !== null && this.replaying()) {
      if (caughtUp) {
        if (this.source.join(this, cursor)) {
          this.passed = cursor;
          this.phase = { name: 'live' };
          return;
        }
        // The fan-out handed out entries that a read just now did not find: appended since (the
        // next read finds them), or deleted (XDEL) since it did. Pausing keeps the second case
        // from spinning on Redis until the fan-out's next entry lets the tail join.
        if (lastReadEmpty) await pause(emptyReadPauseMs, this.stopping.signal);
      }
      // Read only as fast as the consumer takes: a long replay holds at most `bufferSize` events.
      while (this.held.length >= bufferSize && this.replaying()) await this.changed();
      const count = Math.min(replayPageSize, bufferSize - this.held.length);
      const from: string = cursor;
      const page = await this.retrying('replaying', () => this.source.read(from, count));
      if (page === null || !this.replaying()) return;
      if (page.gap !== null) {
        this.fail(new TailGapError(this.source.stream, from, page.gap));
        return;
      }
      for (const { position, fields } of page.entries) {
        cursor = position;
        const event = decodeEvent(fields);
        if (event instanceof Error) skipUnreadable(logger, position, event);
        else this.held.push({ position, event });
      }
      if (page.entries.length > 0) this.notify();
      caughtUp = page.entries.length < count;
      lastReadEmpty = page.entries.length === 0;
    }
  }

  /** `run`'s result, retried while the bus fails; `null` once the tail stops replaying. */
  private async retrying<T>(doing: string, run: () => Promise<T>): Promise<T | null> {
    const streak = new RetryStreak(this.settings.logger, doing);
    while (this.replaying()) {
      try {
        return await run();
      } catch (error) {
        if (this.replaying()) await streak.failed(error, this.stopping.signal);
      }
    }
    return null;
  }

  /** A method, not a field check: TypeScript would keep the phase narrowed across the awaits that change it. */
  private replaying(): boolean {
    return this.phase.name === 'replaying';
  }

  private fail(error: Error): void {
    if (this.phase.name === 'closed' || this.phase.name === 'failing') return;
    this.phase = { name: 'failing', error };
    this.stopping.abort();
    this.notify();
    // Out of the fan-out now: a tail that cannot take more must not hold the stream's reader.
    this.release();
  }

  /** Leaves the fan-out and the bus's open tails, once. */
  private release(): void {
    if (this.left) return;
    this.settings.onClosed();
    this.left = this.source.leave(this).catch((error: unknown) => {
      this.settings.logger.warn({ err: error }, 'event tail: stopping the stream reader failed');
    });
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private notify(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }
}
