import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { sql } from 'drizzle-orm';
import { parse } from 'graphql';
import { isTableEmpty, openDatabase, type Database, type DatabaseHandle, type DrizzleSchema } from '../db/database.ts';
import { createErrorFormatter, unauthenticatedResponse } from '../errors.ts';
import { createIdentityVerifier, identityHeader, IdentityError, noIdentityVerifier, type Viewer } from '../identity.ts';
import { DateTimeScalar } from '../graphql/scalars.ts';
import { enforceAccessRules } from './authorization.ts';
import { RedisCache } from '../cache/redis.ts';
import {
  createEventBus,
  forgetProcessedEvents,
  oldestUnpublishedAgeSeconds,
  OutboxRelay,
  processedEventsRetentionMs,
  type EventBus,
} from '../events/index.ts';
import { registerEventMetrics } from '../events/metrics.ts';
import { withStreamPrefix } from '../events/stream-prefix.ts';
import { close, createHttpService, listen } from '../http/server.ts';
import { createLogger, requestLogPlugin, type Logger } from '../logger.ts';
import { Metrics, type MetricsContext } from '../metrics.ts';
import type { SubgraphConfig } from './config.ts';
import { traceRootFields } from './tracing.ts';
import {
  every,
  subgraphFiles,
  type BackgroundWork,
  type SubgraphContext,
  type SubgraphDefinition,
} from './definition.ts';

export interface RunningSubgraph<TTables extends DrizzleSchema = DrizzleSchema> {
  name: string;
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4002/graphql. */
  url: string;
  port: number;
  database: DatabaseHandle<TTables>;
  /** Stops accepting requests, waits for open ones, then closes the database. */
  stop(): Promise<void>;
}

/** Reads and parses the subgraph's SDL file. */
export function loadTypeDefs(schemaFile: URL) {
  return parse(readFileSync(schemaFile, 'utf8'));
}

/**
 * Opens the database, applies migrations and seed data as configured, and
 * serves the subgraph over HTTP. The caller owns the returned handle.
 */
export async function startSubgraph<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
  config: Pick<SubgraphConfig, 'host' | 'port' | 'database' | 'migrateOnStart' | 'seedIfEmpty' | 'nodeEnv'> &
    Partial<Pick<SubgraphConfig, 'identitySecret' | 'redisUrl' | 'eventStreamPrefix'>> & {
      /**
       * Carries events between subgraphs. Default: Redis Streams on
       * `redisUrl`, or none, in which case events wait in the outbox.
       */
      bus?: EventBus | null;
    },
  logger: Logger = createLogger({ service: definition.name }),
): Promise<RunningSubgraph<TTables>> {
  const metrics = new Metrics();
  const database = await openDatabase(config.database, definition.tables, { metrics });
  try {
    if (config.migrateOnStart) {
      await database.migrate(subgraphFiles(definition).migrationsFolder);
    }
    if (config.seedIfEmpty && (await isTableEmpty(database.db, definition.seedTable))) {
      logger.info({ size: config.seedIfEmpty }, 'database is empty; seeding');
      await definition.seed(database.db, config.seedIfEmpty);
      // Fresh statistics, so the planner sees the bulk-loaded tables as they are.
      await database.db.execute(sql`analyze`);
    }
    const { server, apollo } = await createSubgraphServer(definition, database, {
      production: config.nodeEnv === 'production',
      identitySecret: config.identitySecret ?? null,
      logger,
      metrics,
    });
    const listening = await listen(server, config.port, config.host);
    const background = definition.background?.({ db: database.db, logger });
    const events = definition.events ? startEvents(definition, database.db, config, logger, metrics) : null;
    logger.info({ url: `${listening.url}/graphql`, database: database.kind }, 'subgraph ready');
    return {
      name: definition.name,
      url: `${listening.url}/graphql`,
      port: listening.port,
      database,
      async stop() {
        await close(server);
        await apollo.stop();
        await events?.stop();
        await background?.stop();
        await database.close();
      },
    };
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
}

export interface SubgraphServerOptions {
  /** Masks uncoded errors, hides stack traces and turns introspection off. */
  production: boolean;
  /** Shared with the router, to verify the caller it forwards; null refuses any forwarded identity. */
  identitySecret?: string | null;
  logger: Logger;
  /** Served at `/metrics`, with every request timed into it. Default: a registry of its own. */
  metrics?: Metrics;
}

/** Builds the Apollo Server and its HTTP front without listening, for in-process tests. */
export async function createSubgraphServer<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
  database: DatabaseHandle<TTables>,
  { production, identitySecret = null, logger, metrics = new Metrics() }: SubgraphServerOptions,
): Promise<{ server: Server; apollo: ApolloServer<SubgraphContext<TTables, TLoaders> & MetricsContext> }> {
  type Context = SubgraphContext<TTables, TLoaders> & MetricsContext;
  const schema = buildSubgraphSchema({
    typeDefs: loadTypeDefs(subgraphFiles(definition).schemaFile),
    resolvers: { DateTime: DateTimeScalar, ...definition.resolvers } as never,
  });
  enforceAccessRules(schema);
  traceRootFields(schema);
  const apollo = new ApolloServer<Context>({
    schema,
    // Subgraphs sit behind the router; the router decides what clients may introspect.
    introspection: !production,
    includeStacktraceInErrorResponses: !production,
    formatError: createErrorFormatter({
      database: definition.name,
      maskInternalErrors: production,
      onInternalError: (error) => logger.error({ err: error }, 'resolver failed'),
    }),
    plugins: [ApolloServerPluginInlineTraceDisabled(), metrics.plugin(), requestLogPlugin()],
    // Signals are the entry point's to handle (platform/src/process.ts), after draining HTTP.
    stopOnTerminationSignals: false,
    logger,
  });
  await apollo.start();
  const identity = identitySecret ? await createIdentityVerifier(identitySecret) : noIdentityVerifier;

  const server = createHttpService({
    logger,
    metrics,
    graphql: async (httpGraphQLRequest, _incoming, observed) => {
      let viewer: Viewer | null;
      try {
        viewer = await identity.verify(httpGraphQLRequest.headers.get(identityHeader));
      } catch (error) {
        if (!(error instanceof IdentityError)) throw error;
        logger.warn({ reason: error.message }, 'refused a request with a forwarded identity that does not verify');
        return unauthenticatedResponse('The forwarded identity is not accepted.');
      }
      return apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest,
        context: async () => ({ viewer, db: database.db, loaders: definition.createLoaders(database.db), observed }),
      });
    },
    readiness: async () => ({
      schema: { ok: true },
      database: await database.ping().then(
        () => ({ ok: true }),
        (error: unknown) => ({ ok: false, detail: error instanceof Error ? error.message : String(error) }),
      ),
    }),
  });
  return { server, apollo };
}

/**
 * The outbox relay and the consumers a subgraph declares, on the bus it is
 * given or on Redis Streams. Without either, nothing is relayed: events wait
 * in the outbox, never lost, until the subgraph runs with a bus.
 */
function startEvents<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
  db: Database<TTables>,
  config: { bus?: EventBus | null; redisUrl?: string | null; eventStreamPrefix?: string },
  logger: Logger,
  metrics: Metrics,
): BackgroundWork | null {
  const redis = config.bus === undefined && config.redisUrl ? new RedisCache({ url: config.redisUrl, logger }) : null;
  const bus =
    config.bus ??
    (redis
      ? withStreamPrefix(createEventBus({ redis: redis.connection, logger }), config.eventStreamPrefix ?? '')
      : null);
  const outboxAge = definition.events?.publishes
    ? () => oldestUnpublishedAgeSeconds(db as Database<DrizzleSchema>)
    : null;
  if (!bus) {
    logger.warn('no event bus (REDIS_URL unset): events wait in the outbox and none are consumed');
    // Waiting is exactly when their age matters.
    registerEventMetrics({ metrics, bus: null, consumed: [], outboxAge });
    return null;
  }
  const relay = definition.events?.publishes
    ? new OutboxRelay({ db: db as Database<DrizzleSchema>, bus, logger })
    : null;
  relay?.start();
  const consumer = `${definition.name}-${hostname()}-${process.pid}`;
  const consumes = definition.events?.consumes ?? [];
  const subscriptions = consumes.map(({ stream, handle }) =>
    bus.subscribe({ stream, group: definition.name, consumer, handle: (event) => handle(event, db) }),
  );
  // The inbox only has to remember events that could still be delivered again.
  const forgetting =
    consumes.length > 0
      ? every(10 * 60_000, 'forget processed events', logger, () =>
          forgetProcessedEvents(db, new Date(Date.now() - processedEventsRetentionMs)),
        )
      : null;
  registerEventMetrics({
    metrics,
    bus,
    consumed: consumes.map(({ stream }) => ({ stream, group: definition.name })),
    outboxAge,
  });
  return {
    async stop() {
      await Promise.all(subscriptions.map((subscription) => subscription.stop()));
      await forgetting?.stop();
      await relay?.stop();
      // A bus made here is this subgraph's to close; one passed in is the caller's.
      if (redis) {
        await bus.close();
        await redis.close();
      }
    },
  };
}
