import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from './config.ts';
import type { LifecycleSettings } from './lifecycle.ts';
import type { Logger } from './logger.ts';

/**
 * Reads configuration for an entry point. A bad environment prints the
 * ConfigError's list of variables and exits 2, without a stack trace.
 */
export function configOrExit<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}

/** Starts a service, exiting 1 with a logged reason if it cannot start. */
export async function startOrExit<T>(logger: Logger, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    logger.fatal({ err: error }, 'failed to start');
    process.exit(1);
  }
}

/** What `stopOnSignals` needs of a service: RunningRouter and RunningSubgraph are such. */
export interface StoppableService {
  /** Announces the stop: `/health/ready` answers 503 from now on, while requests are still served. */
  drain(): void;
  /** Stops accepting, lets in-flight requests finish, stops background work and closes connections. */
  stop(): Promise<void>;
  /** What stopping still waits for, named for the log when it overruns its bound. */
  stillOpen(): Promise<string[]>;
}

/**
 * On SIGTERM or SIGINT: readiness turns 503 at once, requests are still
 * served for `drainMs` so that load balancers notice and send no more, then
 * the service stops and the process exits 0. A stop not finished
 * `shutdownTimeoutMs` after the signal is cut short: the log names what was
 * still open, and the process exits 1 before the orchestrator's SIGKILL. A
 * second signal changes nothing: stopping is already under way.
 */
export function stopOnSignals(
  logger: Logger,
  service: StoppableService,
  { drainMs, shutdownTimeoutMs }: Pick<LifecycleSettings, 'drainMs' | 'shutdownTimeoutMs'>,
): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      const started = Date.now();
      setTimeout(() => {
        // Naming what is open must not itself hold the exit up.
        void Promise.race([service.stillOpen().catch(() => []), sleep(1_000).then(() => ['(unknown)'])]).then(
          (stillOpen) => {
            logger.error({ stillOpen, timeoutSeconds: shutdownTimeoutMs / 1000 }, 'stop overran its bound; exiting');
            process.exit(1);
          },
        );
      }, shutdownTimeoutMs);
      logger.info({ signal, drainSeconds: drainMs / 1000 }, 'shutting down: not ready, still serving while draining');
      service.drain();
      sleep(drainMs)
        .then(() => {
          logger.info('stopping: no new connections, waiting for requests in flight');
          return service.stop();
        })
        .then(
          () => {
            logger.info({ durationMs: Date.now() - started }, 'stopped');
            process.exit(0);
          },
          (error: unknown) => {
            logger.error({ err: error }, 'unclean stop');
            process.exit(1);
          },
        );
    });
  }
}
