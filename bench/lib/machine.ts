import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  date: string;
  /** Share of all cores busy in the second before the run: anything else running skews every figure. */
  busyBeforeRun: number | null;
}

export async function describeMachine(): Promise<Machine> {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux
  }
  return {
    cpu,
    // Not availableParallelism(): that shrinks to 1 once the runner has pinned itself.
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    busyBeforeRun: await busyShare(1_000),
  };
}

/** From the aggregate `cpu` line of /proc/stat: 1 − idle share over `ms`. */
async function busyShare(ms: number): Promise<number | null> {
  const read = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // idle and iowait are the 4th and 5th fields.
    return { total: fields.reduce((a, b) => a + b, 0), idle: fields[3]! + (fields[4] ?? 0) };
  };
  try {
    const before = read();
    await sleep(ms);
    const after = read();
    const total = after.total - before.total;
    return total > 0 ? 1 - (after.idle - before.idle) / total : null;
  } catch {
    return null; // not Linux
  }
}
