import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';

/**
 * The processes whose environment holds `variable=value`. Every process
 * `npm start` starts inherits its environment, so a value unique to one test
 * (its temporary DATA_DIR) finds the whole tree, even a process orphaned
 * when its parent exited, which a walk down from the parent's pid misses.
 */
export async function processesWithEnv(variable: string, value: string): Promise<number[]> {
  const wanted = Buffer.from(`${variable}=${value}\0`);
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number);
  const found: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      // Gone since the listing, or not ours to read: not part of the tree.
      const environ = await readFile(`/proc/${pid}/environ`).catch(() => null);
      if (environ && Buffer.concat([Buffer.from('\0'), environ]).includes(Buffer.concat([Buffer.from('\0'), wanted])))
        found.push(pid);
    }),
  );
  return found.sort((a, b) => a - b);
}

/** Whether nothing listens on `port` at 127.0.0.1: binding it succeeds. */
export async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Sends `signal` and resolves with the exit code, or `still running` if it has not exited within `timeoutMs`. */
export async function signalAndWait(
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<number | null | 'still running'> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), timeoutMs);
  });
  try {
    return await Promise.race([exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
