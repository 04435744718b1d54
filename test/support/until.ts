import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `condition` until it holds, or fails after `timeoutMs` naming what was awaited. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, what = 'condition' }: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

export interface ProgressOptions {
  /** Fail once the observed value has not changed for this long, in ms. */
  stallMs: number;
  /** What is awaited, for the error message. Default `'progress'`. */
  what?: string;
  /** Pause between observations, in ms; each observation may be a query. Default 100. */
  intervalMs?: number;
}

/**
 * Observes `observe()` until `done(value)` holds, and fails only when the
 * value has stopped changing for `stallMs`: a backlog (events to consume,
 * orders to settle) may take as long as a slow or busy machine needs while it
 * keeps moving, and one that is stuck fails with where it stopped. Resolves
 * with the last value.
 */
export async function untilDone<T>(
  observe: () => T | Promise<T>,
  done: (value: T) => boolean,
  { stallMs, what = 'progress', intervalMs = 100 }: ProgressOptions,
): Promise<T> {
  const startedAt = Date.now();
  let value = await observe();
  let changedAt = Date.now();
  while (!done(value)) {
    if (Date.now() - changedAt > stallMs) {
      throw new Error(
        `${what}: stuck at ${JSON.stringify(value)} for ${stallMs} ms (${Date.now() - startedAt} ms in all)`,
      );
    }
    await sleep(intervalMs);
    const next = await observe();
    if (JSON.stringify(next) !== JSON.stringify(value)) changedAt = Date.now();
    value = next;
  }
  return value;
}
