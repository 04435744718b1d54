/**
 * How a subgraph tells the process that started it where its start is, step
 * by step, so that `npm start` can say what each one is doing in one short
 * line per step (scripts/dev/start-report.ts) instead of staying silent for
 * the minute a first start can take on a busy machine. The steps travel
 * over the IPC channel `npm start` spawns its child with, tagged, and named
 * by subgraph when one process runs several (scripts/dev/graph-host.ts); a
 * subgraph started any other way reports nothing.
 */
import type { SeedSize } from './subgraph/definition.ts';

export type StartStep =
  /** Opening its database: the embedded one in `where` (a folder), or Postgres at `where` (`postgresLocation`). */
  | { step: 'opening'; database: 'pglite' | 'postgres'; where: string }
  /** A dependency does not answer yet; the start retries with backoff. */
  | { step: 'waiting'; for: 'database' | 'redis'; reason: string }
  | { step: 'migrating' }
  /** Rows of `table` written so far, of `total`. */
  | { step: 'seeding'; size: SeedSize; table: string; done: number; total: number }
  | { step: 'ready'; url: string };

/** Told each step of a start; the default tells no one. */
export type StartProgress = (step: StartStep) => void;

export const noStartProgress: StartProgress = () => {};

/** What the parent puts in a child's environment to be told its steps. */
export const startProgressEnv = { START_PROGRESS: 'ipc' } as const;

const tag = 'shop-start';

export interface StartProgressMessage {
  start: typeof tag;
  /** The service whose step it is, in a process that runs several. Absent: the process's own. */
  service?: string;
  step: StartStep;
}

/**
 * Sends each step to the parent when it asked for them (`startProgressEnv`)
 * over an IPC channel, named as `service`'s when given.
 */
export function startProgressToParent(env: NodeJS.ProcessEnv = process.env, service?: string): StartProgress {
  if (env.START_PROGRESS !== startProgressEnv.START_PROGRESS || typeof process.send !== 'function') {
    return noStartProgress;
  }
  return (step) => {
    // A parent gone (channel closed) wants no news; the send must not fail the start.
    if (process.connected) {
      const message: StartProgressMessage =
        service === undefined ? { start: tag, step } : { start: tag, service, step };
      process.send!(message, undefined, {}, () => {});
    }
  };
}

export function isStartProgressMessage(message: unknown): message is StartProgressMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { start?: unknown }).start === tag &&
    typeof (message as { step?: unknown }).step === 'object'
  );
}

/**
 * The seed's row counts as `seeding` steps: the first batch of each table,
 * then at most one a second, and the last, so that a seed at `--scale`
 * (100,000 reviews) shows it is moving without a line per batch. Called
 * between batches, it also ends a seed the start was stopped during
 * (`signal`): the seed's transaction rolls back, and the next start seeds
 * again, instead of the stop waiting a minute for rows nobody will read.
 */
export function seedProgress(
  report: StartProgress,
  size: SeedSize,
  signal: AbortSignal,
  intervalMs = 1_000,
): (table: string, done: number, total: number) => void {
  let last = { table: '', at: 0 };
  return (table, done, total) => {
    signal.throwIfAborted();
    const now = Date.now();
    if (table === last.table && done < total && now - last.at < intervalMs) return;
    last = { table, at: now };
    report({ step: 'seeding', size, table, done, total });
  };
}

/** Where a Postgres URL points, `db.internal:5432/accounts`, without its credentials, to print. */
export function postgresLocation(url: string): string {
  try {
    const { host, pathname } = new URL(url);
    return `${host}${pathname}`;
  } catch {
    return 'an unreadable URL';
  }
}
