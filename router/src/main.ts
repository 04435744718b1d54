/**
 * Runs the router alone: `npm run start:router -- --supergraph file --port n`.
 * SIGHUP re-reads the supergraph; SIGTERM and SIGINT stop it gracefully
 * (platform/src/process.ts): not ready first, then draining, then stopped.
 */
import { createLogger } from '../../platform/src/logger.ts';
import { configOrExit, startOrExit, stopOnSignals } from '../../platform/src/process.ts';
import { startTracing, tracingConfigFromEnv } from '../../platform/src/tracing.ts';
import { warnOfUnknownVariables } from '../../platform/src/config/fragment.ts';
import { routerConfigFrom } from './config.ts';
import { startRouter } from './router.ts';

const config = configOrExit(() => routerConfigFrom(process.argv.slice(2)));
const logger = createLogger({ service: 'router', level: config.logLevel, pretty: config.logPretty });
warnOfUnknownVariables(logger, config.unknownVariables);
// Off unless an OTLP endpoint is set (docs/tracing-and-logs.md).
const tracingConfig = configOrExit(() => tracingConfigFromEnv('router'));
const tracing = startTracing(tracingConfig, { logger });
const router = await startOrExit(logger, () => startRouter(config, logger));

process.on('SIGHUP', () => void router.reload());
stopOnSignals(
  logger,
  {
    drain: router.drain,
    stillOpen: router.stillOpen,
    async stop() {
      await router.stop();
      // Last, so the spans of the requests just drained are exported too.
      await tracing.shutdown();
    },
  },
  config.lifecycle,
);
