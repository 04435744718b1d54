import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * How much slower than the reference machine this one runs right now, so
 * that load and fault tests give a slow or busy machine as long as it needs
 * instead of failing on a wall clock written for an idle one.
 *
 * The probe is a fixed amount of integer arithmetic run on every core at
 * once (up to four), each in a worker thread: its wall time grows both with
 * a slower CPU and with other processes competing for the cores, which is
 * what stretches the services a test starts. A single thread would miss the
 * case that matters most here: a 2-core machine with one core taken by
 * someone else still gives one thread a whole core, while the test's router,
 * subgraphs and Postgres get half of what they had.
 */

/** Rounds of the probe's loop in one timed pass. */
const probeRounds = 20_000_000;
/**
 * Wall time of one pass on the reference machine: one core of the CI
 * machine (2-core AMD EPYC, Node 20), idle, where it measures 42–48 ms.
 */
const referencePassMs = 45;
/** Timed passes per thread; the median is kept, so one unlucky time slice does not decide. */
const passes = 3;
/**
 * The factor never exceeds this. A machine 8 times slower than the reference
 * is already past what a test should wait for; a hung test must still end
 * within the CI budget.
 */
export const maxSlowdown = 8;

// Plain JavaScript evaluated in the worker (no TypeScript there): warm up the
// JIT, then time `passes` passes and report their wall times.
const probeSource = `
const { parentPort, workerData } = require('node:worker_threads');
function work(rounds) {
  let x = 0x9e3779b9 | 0;
  let sum = 0;
  for (let i = 0; i < rounds; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; sum = (sum + (x & 0xffff)) | 0; }
  return sum;
}
work(workerData.rounds / 10);
const times = [];
let sink = 0;
for (let pass = 0; pass < workerData.passes; pass++) {
  const start = performance.now();
  sink ^= work(workerData.rounds);
  times.push(performance.now() - start);
}
parentPort.postMessage({ times, sink });
`;

export interface MachineSpeed {
  /**
   * Wall time of the probe here over its time on the reference machine:
   * 1 on the reference machine or a faster one, 2 when things take twice as
   * long; at most `maxSlowdown`.
   */
  readonly slowdown: number;
  /** The probe's median pass per thread, in ms, for the test's log line. */
  readonly passMs: number;
  /** `ms`, a deadline written for the reference machine, stretched by the slowdown. */
  scale(ms: number): number;
}

/** Longest wait for one probe thread; past it the machine counts as slow as `maxSlowdown` says. */
const probeTimeoutMs = 60_000;

/** One thread's pass times; never hangs: a thread that ends without answering is an error, one that takes too long a timeout. */
function probeThread(): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(probeSource, { eval: true, workerData: { rounds: probeRounds, passes } });
    const timer = setTimeout(() => {
      reject(new Error(`machine speed probe: no answer within ${probeTimeoutMs} ms`));
      void worker.terminate();
    }, probeTimeoutMs);
    worker.once('message', (message: { times: number[] }) => {
      clearTimeout(timer);
      resolve(message.times);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // After 'message' or 'error' this settles nothing; alone, it means the thread ended without answering.
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`machine speed probe exited with ${code} without an answer`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Measures the machine's speed now (about a quarter of a second on the
 * reference machine, longer on a slow one). Call it once per test file,
 * at the top (`const speed = await measureMachineSpeed()`), so per-test
 * timeouts given to `it` can be scaled too.
 */
export async function measureMachineSpeed(): Promise<MachineSpeed> {
  const threads = Math.min(availableParallelism(), 4);
  try {
    const times = await Promise.all(Array.from({ length: threads }, probeThread));
    const passMs = median(times.flat());
    return machineSpeed(passMs / referencePassMs, passMs);
  } catch {
    // A probe that cannot run or answer says the machine is as slow as we allow for.
    return machineSpeed(maxSlowdown, Number.NaN);
  }
}

/** A `MachineSpeed` with a given slowdown (clamped to 1…`maxSlowdown`). */
export function machineSpeed(slowdown: number, passMs = referencePassMs * slowdown): MachineSpeed {
  const clamped = Math.min(Math.max(slowdown, 1), maxSlowdown);
  return {
    slowdown: clamped,
    passMs,
    scale: (ms) => Math.round(ms * clamped),
  };
}
