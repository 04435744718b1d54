/**
 * `npm start`'s graph in one process: every subgraph and the router, each
 * on its own port as when they run apart, each subgraph on its own database
 * (embedded PGlite in `DATA_DIR/<name>`, or Postgres where
 * `<NAME>_DATABASE_URL` is set). scripts/start.ts spawns it with an IPC
 * channel: it hears each subgraph's start steps (platform/src/progress.ts),
 * tells it when to start the router and which subgraph to restart on a save
 * (scripts/dev/graph-messages.ts), and stops it with SIGTERM.
 *
 * Why one process. Measured after a first `npm start` on the small seed
 * (`npx tsx scripts/dev/measure-rss.ts`): this process 615-675 MB, `npm start`
 * itself 150 MB, 790-840 MB in all, where a process per service took 4.9 GB.
 * - one process per subgraph costs about 210 MB before its database (Node,
 *   tsx, Apollo Server, drizzle): five of them and a router pass 1 GB
 *   whatever the database does. Loaded once here, the code of all six costs
 *   about 220 MB, as much as one of them did;
 * - a PGlite costs about 60 MB with the settings of platform/src/db/database.ts
 *   (250 MB at Postgres's default buffers), and its first start, initdb, is
 *   paid in a short-lived process (scripts/dev/embedded-databases.ts);
 * - one embedded Postgres shared by all subgraphs, served by
 *   `@electric-sql/pglite-socket`, would save about 240 MB more, but PGlite
 *   is a single session: the subgraphs would share one search_path and one
 *   unnamed statement and portal. pglite-socket 0.2.17 queues connections
 *   message by message outside a transaction (one connection's Parse can
 *   land between another's Bind and Execute), pins PGlite 0.5.14 exactly,
 *   and each subgraph would trade its database for a schema, with its
 *   migrations (which name `"public"`) rewritten. Five small PGlites keep
 *   each subgraph's database its own, and production's shape untouched.
 *
 * Events: without `REDIS_URL` one in-memory bus carries them between the
 * subgraphs and to the router, whose response cache they purge; with it,
 * Redis Streams, as in production. Events on the in-memory bus not yet
 * consumed when the graph stops are lost: their outbox rows count as sent.
 *
 * A subgraph restarted by hot reload is stopped here and loaded again from
 * disk through tsx's `tsImport`, which evaluates the subgraph's own files
 * afresh (packages from node_modules stay shared). Each reload keeps the
 * replaced modules in memory: a development process restarted with
 * `npm start` sheds them.
 */
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tsImport } from 'tsx/esm/api';
import type { EventBus } from '../../platform/src/events/index.ts';
import { createLogger, type Logger } from '../../platform/src/logger.ts';
import { configOrExit, stopOnSignals } from '../../platform/src/process.ts';
import { startProgressToParent } from '../../platform/src/progress.ts';
import { parseSubgraphConfig, type SubgraphConfig } from '../../platform/src/subgraph/config.ts';
import { warnOfUnknownVariables } from '../../platform/src/config/fragment.ts';
import type { AnySubgraphDefinition } from '../../platform/src/subgraph/definition.ts';
import type { RunningSubgraph } from '../../platform/src/subgraph/server.ts';
import { routerConfigFrom } from '../../router/src/config.ts';
import type { RunningRouter } from '../../router/src/router.ts';
import { subgraphs, type SubgraphName } from '../../subgraphs/registry.ts';
import { createMissingDatabases } from './embedded-databases.ts';
import { failedReport, isGraphCommand, type GraphReport } from './graph-messages.ts';

interface Service {
  name: SubgraphName;
  config: SubgraphConfig;
  logger: Logger;
  running: RunningSubgraph<Record<string, unknown>> | null;
}

const services: Service[] = subgraphs.map(({ name, port }) => {
  const { config, unknownVariables } = configOrExit(() => parseSubgraphConfig(name, port));
  const logger = createLogger({ service: name, level: config.logLevel, pretty: config.logPretty });
  warnOfUnknownVariables(logger, unknownVariables);
  return { name, config, logger, running: null };
});
const routerConfig = configOrExit(() => routerConfigFrom([]));

// Made before the graph's code is loaded, which takes as long as creating a database on a busy machine: the two overlap.
const embedded = services.flatMap(({ config }) =>
  config.database.kind === 'pglite' && config.database.dataDir ? [config.database.dataDir] : [],
);
const databasesCreated = embedded[0]
  ? createMissingDatabases(embedded, join(dirname(embedded[0]), '.new-database'))
  : Promise.resolve();
// Awaited below; this only keeps an early failure from counting as unhandled meanwhile.
databasesCreated.catch(() => {});

const [{ MemoryBus }, { launchSubgraph }, { startTracing, tracingConfigFromEnv }, { startRouter }, { loadSubgraph }] =
  await Promise.all([
    import('../../platform/src/events/index.ts'),
    import('../../platform/src/subgraph/server.ts'),
    import('../../platform/src/tracing.ts'),
    import('../../router/src/router.ts'),
    import('../../subgraphs/registry.ts'),
  ]);
const logger = createLogger({ service: 'router', level: routerConfig.logLevel, pretty: routerConfig.logPretty });
warnOfUnknownVariables(logger, routerConfig.unknownVariables);
// One process, one tracer provider: spans are named by the router's service name (docs/tracing-and-logs.md).
const tracing = startTracing(
  configOrExit(() => tracingConfigFromEnv('router')),
  { logger },
);
// Without Redis, the bus of the embedded default; with it, each service connects to Redis Streams itself.
const bus: EventBus | null = routerConfig.redisUrl ? null : new MemoryBus({ logger });
let router: RunningRouter | null = null;
let stopping = false;

function report(message: GraphReport): void {
  if (process.connected) process.send!(message, undefined, {}, () => {});
}

/** Starts `service` from `definition`; resolves once it serves, rejects (stopped again) if its start fails. */
async function start(service: Service, definition: AnySubgraphDefinition): Promise<void> {
  const running = await launchSubgraph(
    definition,
    {
      ...service.config,
      progress: startProgressToParent(process.env, service.name),
      ...(bus ? { bus } : {}),
    },
    service.logger,
  );
  service.running = running as Service['running'];
  try {
    await running.ready;
  } catch (error) {
    service.running = null;
    await running.stop().catch(() => {});
    throw error;
  }
}

/** Stops `service` as a signal would stop its own process: not ready, draining, then stopped. */
async function stopService(service: Service): Promise<void> {
  const running = service.running;
  if (!running) return;
  service.running = null;
  running.drain();
  await sleep(service.config.lifecycle.drainMs);
  await running.stop();
}

/** Hot reload: the subgraph on the code now on disk. A failure is reported, and the rest goes on serving. */
async function restart(name: string): Promise<void> {
  const service = services.find((candidate) => candidate.name === name);
  if (!service) return;
  try {
    await stopService(service);
    if (stopping) return;
    const module = (await tsImport(
      join(dirname(new URL(import.meta.url).pathname), `../../subgraphs/${name}/src/index.ts`),
      import.meta.url,
    )) as { subgraph: AnySubgraphDefinition };
    await start(service, module.subgraph);
  } catch (error) {
    service.logger.error({ err: error }, 'did not start again');
    report(failedReport(name, error instanceof Error ? error.message : String(error)));
  }
}

// Parent gone (SIGKILL, a crash): stop as on a signal, freeing the ports and the embedded databases.
process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
process.on('message', (message) => {
  if (!isGraphCommand(message) || stopping) return;
  switch (message.command) {
    case 'start-router':
      void startRouter({ ...routerConfig, ...(bus ? { eventBus: bus } : {}) }, logger).then(
        (started) => {
          router = started;
          // Stopped while it started: it is the last thing the stop waits for.
          if (stopping) void started.stop();
        },
        (error: unknown) => {
          logger.fatal({ err: error }, 'failed to start');
          process.exit(1);
        },
      );
      return;
    case 'restart':
      void restart(message.service);
      return;
  }
});

stopOnSignals(
  logger,
  {
    drain() {
      stopping = true;
      router?.drain();
      for (const service of services) service.running?.drain();
    },
    async stillOpen() {
      const open = await Promise.all([
        router?.stillOpen().then((what) => what.map((item) => `router: ${item}`)) ?? [],
        ...services.map(
          async ({ name, running }) => (await running?.stillOpen())?.map((item) => `${name}: ${item}`) ?? [],
        ),
      ]);
      return open.flat();
    },
    async stop() {
      // The router first: it stops sending requests to the subgraphs, which then finish theirs.
      await router?.stop();
      await Promise.all(services.map(async ({ running }) => running?.stop()));
      await bus?.close();
      await tracing.shutdown();
    },
  },
  routerConfig.lifecycle,
);

try {
  const [definitions] = await Promise.all([
    Promise.all(services.map(({ name }) => loadSubgraph(name))),
    databasesCreated,
  ]);
  await Promise.all(services.map((service, index) => start(service, definitions[index]!)));
} catch (error) {
  // Stopped while starting: not a failure.
  if (!stopping) {
    logger.fatal({ err: error }, 'the graph failed to start');
    await Promise.all(services.map(async (service) => service.running?.stop().catch(() => {})));
    process.exit(1);
  }
}
