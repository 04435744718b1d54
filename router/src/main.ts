/**
 * Runs the router alone: `npm run start:router -- --supergraph file --port n`.
 * SIGHUP re-reads the supergraph; SIGTERM and SIGINT stop after in-flight requests.
 */
import { ConfigError } from '../../platform/src/config.ts';
import { createLogger } from '../../platform/src/logger.ts';
import { routerConfigFrom } from './config.ts';
import { startRouter } from './router.ts';

let config;
try {
  config = routerConfigFrom(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const logger = createLogger({ service: 'router', level: config.logLevel, pretty: config.logPretty });
const router = await startRouter(config, logger).catch((error: unknown) => {
  logger.fatal({ err: error }, 'router failed to start');
  process.exit(1);
});

process.on('SIGHUP', () => void router.reload());
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'stopping');
    router.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  });
}
