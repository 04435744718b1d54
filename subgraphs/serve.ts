/**
 * Runs one subgraph: `npm run start:subgraph -- <name>`. Configured by the
 * environment (see platform/src/subgraph/config.ts); SIGTERM and SIGINT stop
 * it after in-flight requests.
 */
import { ConfigError } from '../platform/src/config.ts';
import { createLogger } from '../platform/src/logger.ts';
import { subgraphConfigFromEnv } from '../platform/src/subgraph/config.ts';
import { startSubgraph } from '../platform/src/subgraph/server.ts';
import { isSubgraphName, loadSubgraph, subgraphs } from './registry.ts';

const name = process.argv[2] ?? '';
const entry = subgraphs.find((candidate) => candidate.name === name);
if (!isSubgraphName(name) || !entry) {
  console.error(`Usage: npm run start:subgraph -- <${subgraphs.map((s) => s.name).join('|')}>`);
  process.exit(2);
}

let config;
try {
  config = subgraphConfigFromEnv(name, entry.port);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const logger = createLogger({ service: name, level: config.logLevel, pretty: config.logPretty });
const running = await startSubgraph(await loadSubgraph(name), config, logger).catch((error: unknown) => {
  logger.fatal({ err: error }, 'subgraph failed to start');
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'stopping');
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  });
}
