/**
 * Runs the router alone: `npm run start:router -- --supergraph file --port n`.
 * SIGHUP re-reads the supergraph; SIGTERM and SIGINT stop after in-flight requests.
 */
import { createLogger } from '../../platform/src/logger.ts';
import { configOrExit, startOrExit, stopOnSignals } from '../../platform/src/process.ts';
import { routerConfigFrom } from './config.ts';
import { startRouter } from './router.ts';

const config = configOrExit(() => routerConfigFrom(process.argv.slice(2)));
const logger = createLogger({ service: 'router', level: config.logLevel, pretty: config.logPretty });
const router = await startOrExit(logger, () => startRouter(config, logger));

process.on('SIGHUP', () => void router.reload());
stopOnSignals(logger, router.stop);
