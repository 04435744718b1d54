/**
 * CPU time and peak memory of a process, read from /proc. CPU counts every
 * thread (libuv's pool, V8's GC helpers, a native query planner), and every
 * descendant Node process too, so a gateway that forks workers cannot hide
 * them. Other descendants are left out: tsx's esbuild service, which
 * transpiled the entry point at start, is not part of any gateway.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of utime/stime (USER_HZ); 100 on every Linux we know, asked anyway. */
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcessSample {
  /** utime + stime of the process and its descendants, in ms. */
  cpuMs: number;
  /** Peak resident set (VmHWM) of the process and its descendants, in bytes. */
  peakRssBytes: number;
  /** How many processes the sample covered: 1 unless the program forks. */
  processes: number;
}

export function sampleProcess(pid: number): ProcessSample {
  const pids = processTree(pid);
  let ticks = 0;
  let peakRssBytes = 0;
  for (const each of pids) {
    ticks += cpuTicks(each);
    peakRssBytes += peakRss(each);
  }
  return { cpuMs: (ticks * 1000) / ticksPerSecond, peakRssBytes, processes: pids.length };
}

/** The command line of a process, to check that the pid we measure is the program and not a wrapper. */
export function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses; fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5) (utime, stime) are at 11 and 12 here, after pid and comm.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0; // exited between listing and reading
  }
}

function peakRss(pid: number): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function processTree(pid: number): number[] {
  const all = [pid];
  const isNode = (candidate: number) => {
    try {
      return commandLine(candidate)[0] === process.execPath;
    } catch {
      return false;
    }
  };
  for (let index = 0; index < all.length; index++) {
    const current = all[index]!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children) all.push(...children.split(' ').map(Number).filter(isNode));
      } catch {
        // thread ended
      }
    }
  }
  return all;
}
