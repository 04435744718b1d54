import { relative, isAbsolute } from 'node:path';
import { envPrefix } from '../../platform/src/config.ts';
import { postgresLocation, type StartStep } from '../../platform/src/progress.ts';

/**
 * What `npm start` prints while the graph starts: one short line per step
 * per process, `accounts   migrating`, in place of each process's log (which
 * LOG_LEVEL=info brings back). The words name what is awaited and the
 * variable that moves it, so a start that waits says what would end the wait.
 */

/** Prints `text` as `name`'s line, names aligned; an error's line goes to stderr. */
export type StartLine = (name: string, text: string, options?: { error?: boolean }) => void;

export function startLinePrinter(names: readonly string[]): StartLine {
  const width = Math.max(...names.map((name) => name.length));
  return (name, text, { error = false } = {}) =>
    (error ? console.error : console.log)(`  ${name.padEnd(width)}  ${text}`);
}

/** A subgraph's step in words, or null when it is not news (the same wait for the same reason). */
export function describeStartStep(
  name: string,
  step: StartStep,
  { elapsedMs, env = process.env }: { elapsedMs: number; env?: NodeJS.ProcessEnv },
): string {
  const prefix = envPrefix(name);
  switch (step.step) {
    case 'opening':
      return step.database === 'pglite'
        ? `opening its embedded database in ${displayPath(step.where)}`
        : `connecting to Postgres at ${step.where} (${prefix}_DATABASE_URL)`;
    case 'waiting':
      if (step.for === 'redis') return `waiting for Redis (REDIS_URL): ${step.reason}; retrying`;
      return env[`${prefix}_DATABASE_URL`]
        ? `waiting for its database at ${postgresLocation(env[`${prefix}_DATABASE_URL`]!)} (${prefix}_DATABASE_URL): ${step.reason}; retrying`
        : `waiting for its embedded database: ${step.reason}; retrying`;
    case 'migrating':
      return 'migrating';
    case 'seeding':
      return `seeding ${step.table}: ${step.done.toLocaleString('en-US')} of ${step.total.toLocaleString('en-US')}${step.size === 'scale' ? ' (--scale)' : ''}`;
    case 'ready':
      return `ready at ${localUrl(step.url)} (${seconds(elapsedMs)})`;
  }
}

/** A folder as a person would type it from here: relative when below the current one. */
export function displayPath(path: string, cwd = process.cwd()): string {
  const fromHere = relative(cwd, path);
  if (fromHere === '') return '.';
  return fromHere.startsWith('..') || isAbsolute(fromHere) ? path : `${fromHere}/`;
}

/** `http://127.0.0.1:4001/graphql` as the banner shows it, with `localhost`, which a browser also opens. */
export function localUrl(url: string): string {
  return url.replace('//127.0.0.1:', '//localhost:');
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Why a process is not ready, from its `/health/ready` body: the failing
 * checks' details, `supergraph: waiting for …`; null when it says nothing.
 */
export function notReadyDetail(body: unknown): string | null {
  const checks = (body as { checks?: Record<string, { ok?: boolean; detail?: string }> } | null)?.checks;
  if (!checks || typeof checks !== 'object') return null;
  const failing = Object.entries(checks)
    .filter(([, check]) => check && check.ok === false)
    .map(([name, check]) => (check.detail ? `${name}: ${check.detail}` : name));
  return failing.length > 0 ? failing.join('; ') : null;
}
