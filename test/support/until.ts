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
