/**
 * How a service starts and stops, the same for the router and every
 * subgraph: the settings (read from the environment), the phase it is in,
 * waiting for a dependency with backoff, and stopping in named steps.
 */
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { secondsFromEnv, type NodeEnv } from './config.ts';
import { close, openConnections } from './http/server.ts';
import type { Logger } from './logger.ts';

export interface LifecycleSettings {
  /**
   * After SIGTERM, how long the service keeps serving while `/health/ready`
   * answers 503, so that load balancers (Kubernetes endpoints) stop sending
   * it requests before it stops accepting them. Default: 5 s in production,
   * 0 elsewhere.
   */
  drainMs: number;
  /**
   * The longest a stop may take from the signal, drain included; past it the
   * service logs what was still open and exits 1. Default: 25 s, within
   * Kubernetes' 30 s termination grace period.
   */
  shutdownTimeoutMs: number;
  /**
   * How long a start may wait for the service's dependencies before it exits
   * 1; null waits as long as it takes. Default: no limit in production, where
   * an orchestrator shows the instance as not ready and restarting it would
   * only add backoff; 60 s elsewhere, where a person is waiting.
   */
  startupTimeoutMs: number | null;
}

/** Within Kubernetes' 30 s termination grace period. */
export const defaultShutdownTimeoutSeconds = 25;

/** The variables `lifecycleFrom` reads, to spread into a service's env schema. */
export const lifecycleEnv = {
  SHUTDOWN_DRAIN_SECONDS: secondsFromEnv.optional(),
  SHUTDOWN_TIMEOUT_SECONDS: secondsFromEnv.default(defaultShutdownTimeoutSeconds),
  STARTUP_TIMEOUT_SECONDS: secondsFromEnv.optional(),
};

interface LifecycleVars {
  NODE_ENV: NodeEnv;
  SHUTDOWN_DRAIN_SECONDS?: number | undefined;
  SHUTDOWN_TIMEOUT_SECONDS?: number | undefined;
  STARTUP_TIMEOUT_SECONDS?: number | undefined;
}

export function lifecycleFrom(vars: LifecycleVars): LifecycleSettings {
  const production = vars.NODE_ENV === 'production';
  const startupSeconds = vars.STARTUP_TIMEOUT_SECONDS ?? (production ? 0 : 60);
  return {
    drainMs: (vars.SHUTDOWN_DRAIN_SECONDS ?? (production ? 5 : 0)) * 1000,
    shutdownTimeoutMs: (vars.SHUTDOWN_TIMEOUT_SECONDS ?? defaultShutdownTimeoutSeconds) * 1000,
    startupTimeoutMs: startupSeconds === 0 ? null : startupSeconds * 1000,
  };
}

/** For a service's env schema: the drain is part of the stop's time, so it must leave some. */
export function drainFitsShutdownTimeout(vars: LifecycleVars): boolean {
  const { drainMs, shutdownTimeoutMs } = lifecycleFrom(vars);
  return drainMs < shutdownTimeoutMs;
}

export const drainFitsShutdownTimeoutIssue = {
  message: 'must be less than SHUTDOWN_TIMEOUT_SECONDS, which includes the drain (5 s by default in production)',
  path: ['SHUTDOWN_DRAIN_SECONDS'],
};

/**
 * Where a service is in its life. Each phase carries what it is about, so
 * readiness and request gating are read from the phase alone, as Apollo
 * Server's `ServerState` does, instead of from flags set along the way.
 *
 * A start goes through `waiting` (for one dependency after another),
 * `migrating` and `seeding` as the service needs them, to `ready`. A stop
 * goes through `draining` (readiness 503 while requests are still served)
 * to `stopped`, from any phase: a service can be stopped while it starts.
 */
export type ServicePhase =
  | {
      phase: 'waiting';
      /** What the start waits for, such as `database` or `supergraph`. */
      for: string[];
      /** Why the last attempt failed, as `describeFailure` says it; null before any failed. */
      reason: string | null;
    }
  | { phase: 'migrating' }
  | { phase: 'seeding' }
  | { phase: 'ready' }
  | {
      phase: 'draining';
      /**
       * The phase the service would be in were it not draining: a start
       * carries on while draining, and what a request gets still depends
       * on how far it came (a subgraph refuses requests until migrated).
       */
      from: LivePhase;
    }
  | { phase: 'stopped' };

/** The phases before a stop. */
export type LivePhase = Exclude<ServicePhase, { phase: 'draining' } | { phase: 'stopped' }>;

export type PhaseName = ServicePhase['phase'];

/** Where each phase may go. A start never goes back (migrations run once), and a stop never ends. */
const nextPhases: Record<PhaseName, readonly PhaseName[]> = {
  waiting: ['waiting', 'migrating', 'seeding', 'ready', 'draining', 'stopped'],
  migrating: ['waiting', 'seeding', 'ready', 'draining', 'stopped'],
  seeding: ['waiting', 'ready', 'draining', 'stopped'],
  ready: ['draining', 'stopped'],
  draining: ['stopped'],
  stopped: [],
};

/** A phase change the lifecycle does not allow: a bug in the service's start or stop, never a client's doing. */
export class PhaseTransitionError extends Error {
  override name = 'PhaseTransitionError';
}

/**
 * The phase of one service, changed only through checked transitions.
 * Everything that depends on where the service is (readiness, whether a
 * request is served, keeping connections alive) reads `phase`.
 */
export class ServiceLifecycle {
  #phase: ServicePhase;

  /** Default: ready from the start, for a service with nothing to wait for. */
  constructor(initial: LivePhase = { phase: 'ready' }) {
    this.#phase = initial;
  }

  get phase(): ServicePhase {
    return this.#phase;
  }

  /** True once a stop has begun (draining or stopped). */
  get stopping(): boolean {
    return this.#phase.phase === 'draining' || this.#phase.phase === 'stopped';
  }

  /**
   * Moves the start on. While draining, the start's progress is kept as the
   * phase drained `from`; once stopped, a start must not go on, and this throws.
   */
  enter(next: LivePhase): void {
    const current = this.#phase;
    if (current.phase === 'draining') {
      assertTransition(current.from, next);
      this.#phase = { phase: 'draining', from: next };
      return;
    }
    assertTransition(current, next);
    this.#phase = next;
  }

  /** Begins the stop: readiness answers 503 from now on. Draining or stopped already: nothing changes. */
  drain(): void {
    if (this.stopping) return;
    this.#phase = { phase: 'draining', from: this.#phase as LivePhase };
  }

  /** The service serves no more. Stopping twice is harmless. */
  stop(): void {
    this.#phase = { phase: 'stopped' };
  }
}

function assertTransition(current: ServicePhase, next: ServicePhase): void {
  if (!nextPhases[current.phase].includes(next.phase))
    throw new PhaseTransitionError(
      `a service cannot go from ${current.phase} to ${next.phase}; from ${current.phase} it goes to ${
        nextPhases[current.phase].join(', ') || 'nothing'
      }`,
    );
}

export interface WaitOptions {
  /** What is awaited, for the log and the error: `the database`. */
  what: string;
  /** When to give up, rejecting (ms since the epoch); null never does. */
  deadline: number | null;
  /** Stops waiting, rejecting with the signal's reason. */
  signal: AbortSignal;
  logger: Logger;
  /** Told why each attempt failed, in `describeFailure`'s words, e.g. for `/health/ready`. */
  onFailure?: (reason: string) => void;
  /** First pause between attempts; it doubles up to `maxDelayMs`. Default: 250 ms. */
  initialDelayMs?: number;
  /** Default: 5,000 ms, so a dependency that comes back is noticed within seconds. */
  maxDelayMs?: number;
}

/** A "still waiting" line at most this often while the reason stays the same. */
const waitLogIntervalMs = 30_000;

/**
 * Calls `attempt` until it resolves, pausing between failures for a capped,
 * exponentially growing delay with jitter, so instances started together do
 * not retry in lockstep against a dependency that is coming back.
 */
export async function waitFor<T>(
  attempt: () => Promise<T>,
  { what, deadline, signal, logger, onFailure, initialDelayMs = 250, maxDelayMs = 5_000 }: WaitOptions,
): Promise<T> {
  let logged = { reason: '', at: 0 };
  for (let failures = 0; ; failures++) {
    signal.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      signal.throwIfAborted();
      const reason = describeFailure(error);
      onFailure?.(reason);
      const delayMs = Math.round(Math.min(initialDelayMs * 2 ** failures, maxDelayMs) * (0.5 + Math.random() / 2));
      if (deadline !== null && Date.now() + delayMs > deadline) {
        throw new Error(`gave up waiting for ${what}: ${reason}`, { cause: error });
      }
      if (reason !== logged.reason || Date.now() - logged.at >= waitLogIntervalMs) {
        logger.warn({ reason, attempts: failures + 1, retryInMs: delayMs }, `waiting for ${what}`);
        logged = { reason, at: Date.now() };
      }
      await sleep(delayMs, undefined, { signal });
    }
  }
}

/**
 * Why something failed, for readiness bodies and logs, which anyone who can
 * reach the port may read: the root cause's message, never a wrapper's
 * quoted statement, with credentials in a URL masked.
 */
export function describeFailure(error: unknown): string {
  return messageOf(error).replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1[redacted]@');
}

function messageOf(error: unknown): string {
  // The root cause: drizzle wraps a driver's error in one that quotes the statement and its parameters.
  if (error instanceof Error && error.cause !== undefined) return messageOf(error.cause);
  // A host with several addresses fails with one error per address and no message of its own.
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(messageOf).join('; ');
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return error.message || (typeof code === 'string' ? code : error.name);
}

/** The step that closes a service's HTTP server (`close`), naming the connections it still waits for. */
export function closeHttpServer(server: Server): StopStep {
  return {
    name: 'http server',
    stop: () => close(server),
    detail: async () => {
      const count = await openConnections(server);
      return `${count} connection${count === 1 ? '' : 's'} open`;
    },
  };
}

export interface StopStep {
  /** What the step closes, as the log names it when stopping overruns: `http server`. */
  name: string;
  stop(): Promise<unknown> | void;
  /** What it still holds, said beside its name when stopping overruns: `2 connections open`. */
  detail?(): Promise<string>;
}

export interface StopSequence {
  /** Runs the steps in order, once however often it is called. */
  stop(): Promise<void>;
  /** The steps not finished yet, with their detail. */
  stillOpen(): Promise<string[]>;
}

/**
 * Stops a service one step after another. A failing step does not keep the
 * later ones (the database, say) from closing; the failures are thrown
 * together at the end.
 */
export function stopInOrder(steps: readonly StopStep[]): StopSequence {
  let stopping: Promise<void> | null = null;
  let finished = 0;
  return {
    stop() {
      stopping ??= (async () => {
        const failures: unknown[] = [];
        for (const step of steps) {
          try {
            await step.stop();
          } catch (error) {
            failures.push(error);
          }
          finished++;
        }
        if (failures.length === 1) throw failures[0];
        if (failures.length > 1) throw new AggregateError(failures, 'several steps of the stop failed');
      })();
      return stopping;
    },
    stillOpen: () =>
      Promise.all(
        steps.slice(finished).map(async (step) => {
          const detail = await step.detail?.().catch(() => '');
          return detail ? `${step.name} (${detail})` : step.name;
        }),
      ),
  };
}
