/**
 * Every process the bench starts goes through here, so that all of them are
 * stopped by their own handle at the end, on Ctrl-C and on failure, and
 * none is ever looked up by name.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where things run. On two or more cores the gateway under test gets core
 * 1 to itself and everything else (load generator, subgraphs, Postgres)
 * shares core 0, as in the reference measurements. Without `taskset`, or on
 * one core, nothing is pinned and the report says so.
 */
export interface Placement {
  pinned: boolean;
  gatewayCore: number | null;
  supportCore: number | null;
  note: string;
}

export function choosePlacement(): Placement {
  const cores = cpus().length;
  let taskset = false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    taskset = true;
  } catch {
    // not installed, or not permitted here
  }
  if (!taskset)
    return { pinned: false, gatewayCore: null, supportCore: null, note: 'taskset unavailable: nothing pinned' };
  if (cores < 2) return { pinned: false, gatewayCore: null, supportCore: null, note: `${cores} core: nothing pinned` };
  return {
    pinned: true,
    gatewayCore: 1,
    supportCore: 0,
    note: 'gateway on core 1; load, subgraphs, Postgres on core 0',
  };
}

/**
 * Pins this process (all its threads) to `core`. Children inherit the
 * affinity, so Postgres, started through pg_ctl, lands there too.
 */
export function pinSelf(core: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
}

export interface ManagedProcess {
  name: string;
  /** The pid of the program itself: `taskset` execs it, so no wrapper sits in between. */
  pid: number;
  child: ChildProcess;
  /** The last few KB of stdout and stderr, for error messages. */
  output(): string;
  hasExited(): boolean;
  /** Resolves with the exit code (null when killed by a signal or never started). */
  exited: Promise<number | null>;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  /** argv, starting with the executable (usually `process.execPath`). */
  command: string[];
  /** Added to the runner's environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Core to pin to, or null for no pinning. */
  core: number | null;
  /** Open an IPC channel (the child must be a Node program). */
  ipc?: boolean;
  /** Echo the child's output to ours, for debugging. */
  echo?: boolean;
}

const live = new Set<ManagedProcess>();
const cleanups = new Set<() => Promise<void>>();
const outputLimit = 16_000;

export function startProcess(options: StartOptions): ManagedProcess {
  const [file, ...args] =
    options.core === null ? options.command : ['taskset', '-c', String(options.core), ...options.command];
  const env = { ...process.env };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const child = spawn(file!, args, {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])],
    // Its own process group: stop() then reaches anything it forks, and a
    // Ctrl-C in the terminal reaches only the runner, which stops things in order.
    detached: true,
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-outputLimit);
    if (options.echo) process.stderr.write(`[${options.name}] ${chunk.toString('utf8')}`);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let exited = false;
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      exited = true;
      resolve(code);
    });
    child.once('error', (error) => {
      append(Buffer.from(`spawn failed: ${error.message}\n`));
      exited = true;
      resolve(null);
    });
  });

  const handle: ManagedProcess = {
    name: options.name,
    pid: child.pid ?? -1,
    child,
    output: () => output,
    hasExited: () => exited,
    exited: exit,
    async stop(graceMs = 5_000) {
      live.delete(handle);
      if (exited || child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
      // Anything the child forked and left behind in its group goes too.
      signalGroup(child.pid, 'SIGKILL');
    },
  };
  live.add(handle);
  return handle;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Registers something else to stop at the end (e.g. Postgres); returns a function that unregisters it. */
export function onCleanup(cleanup: () => Promise<void>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Stops every process still running, then every registered cleanup. Safe to call more than once. */
export async function stopEverything(): Promise<void> {
  await Promise.all([...live].map((handle) => handle.stop()));
  for (const cleanup of [...cleanups].reverse()) {
    cleanups.delete(cleanup);
    await cleanup().catch((error: unknown) => console.error(`cleanup failed: ${(error as Error).message}`));
  }
}

/**
 * Last resort when the runner exits without having stopped everything (an
 * uncaught error): exit handlers cannot wait, so kill at once.
 */
export function killEverythingNow(): void {
  for (const handle of live) if (!handle.hasExited()) signalGroup(handle.pid, 'SIGKILL');
}
