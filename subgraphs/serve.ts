/**
 * Runs one subgraph: `npm run start:subgraph -- <name>`. Configured by the
 * environment (see platform/src/subgraph/config.ts). It waits for its
 * database (and Redis) to come up, reporting not ready meanwhile; SIGTERM
 * and SIGINT stop it gracefully (platform/src/process.ts).
 *
 * Its events travel on Redis Streams (REDIS_URL); without Redis they wait
 * in its outbox. `npm start` runs the subgraphs another way, all in one
 * process on one in-memory bus (scripts/dev/graph-host.ts). Started with an
 * IPC channel and START_PROGRESS, it reports each step of its start over it
 * (platform/src/progress.ts), and stops when the channel closes: a parent
 * that died without stopping it (SIGKILL, a crash) must not leave it
 * running, holding its port and its embedded database.
 */
import { warnOfUnknownVariables } from '../platform/src/config/fragment.ts';
import { createLogger } from '../platform/src/logger.ts';
import { configOrExit, startOrExit, stopOnSignals } from '../platform/src/process.ts';
import { startProgressEnv, startProgressToParent } from '../platform/src/progress.ts';
import { startTracing } from '../platform/src/tracing.ts';
import { parseSubgraphConfig } from '../platform/src/subgraph/config.ts';
import { launchSubgraph } from '../platform/src/subgraph/server.ts';
import { loadSubgraph, subgraphs } from './registry.ts';

const entry = subgraphs.find((candidate) => candidate.name === process.argv[2]);
if (!entry) {
  console.error(`Usage: npm run start:subgraph -- <${subgraphs.map((s) => s.name).join('|')}>`);
  process.exit(2);
}

const { config, unknownVariables } = configOrExit(() => parseSubgraphConfig(entry.name, entry.port));
const logger = createLogger({ service: entry.name, level: config.logLevel, pretty: config.logPretty });
warnOfUnknownVariables(logger, unknownVariables);
// Off unless an OTLP endpoint is set (docs/tracing-and-logs.md).
const tracing = startTracing(config.tracing, { logger });
if (process.env.START_PROGRESS === startProgressEnv.START_PROGRESS && process.send) {
  // Stopped the way a signal stops it: gracefully, within its bound.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
const progress = startProgressToParent();
const subgraph = await startOrExit(logger, async () =>
  launchSubgraph(await loadSubgraph(entry.name), { ...config, progress }, logger),
);
const service = {
  drain: subgraph.drain,
  stillOpen: subgraph.stillOpen,
  async stop() {
    await subgraph.stop();
    // Last, so the spans of the requests just drained are exported too.
    await tracing.shutdown();
  },
};
stopOnSignals(logger, service, config.lifecycle);
// Waiting for the database is no failure; giving up on it (STARTUP_TIMEOUT_SECONDS) or a failed migration is.
subgraph.ready.catch(async (error: unknown) => {
  logger.fatal({ err: error }, 'failed to start');
  await service.stop().catch(() => {});
  process.exit(1);
});
