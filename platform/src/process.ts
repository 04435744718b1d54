import { ConfigError } from './config.ts';
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

/**
 * On SIGTERM or SIGINT, runs `stop` (which lets in-flight requests finish)
 * and exits. A second signal while stopping changes nothing: stopping is
 * already under way.
 */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'unclean stop');
          process.exit(1);
        },
      );
    });
  }
}
