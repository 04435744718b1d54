import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { sql } from 'drizzle-orm';
import { parse } from 'graphql';
import { assertNever } from '../assert.ts';
import { isTableEmpty, openDatabase, type Database, type DatabaseHandle, type DrizzleSchema } from '../db/database.ts';
import { createErrorFormatter, errorResponse, ErrorCode, unauthenticatedResponse } from '../errors.ts';
import { createIdentityVerifier, identityHeader, IdentityError, noIdentityVerifier, type Viewer } from '../identity.ts';
import { DateTimeScalar } from '../graphql/scalars.ts';
import { enforceAccessRules } from './authorization.ts';
import { RedisCache } from '../cache/redis.ts';
import {
  consumersOf,
  createEventBus,
  forgetProcessedEvents,
  oldestUnpublishedAgeSeconds,
  OutboxRelay,
  processedEventsRetentionMs,
  recordedSoFar,
  recordingEvents,
  reportRecordedEventsPlugin,
  type EventBus,
} from '../events/index.ts';
import { registerEventMetrics } from '../events/metrics.ts';
import { withStreamPrefix } from '../events/stream-prefix.ts';
import {
  close,
  createHttpService,
  listen,
  requestIdHeader,
  serveMetricsApart,
  type ReadinessChecks,
} from '../http/server.ts';
import {
  closeHttpServer,
  describeFailure,
  ServiceLifecycle,
  stopInOrder,
  waitFor,
  type LivePhase,
  type ServicePhase,
} from '../lifecycle.ts';
import { createLogger, requestLogPlugin, withRequestLogFields, type Logger } from '../logger.ts';
import { Metrics, type MetricsContext } from '../metrics.ts';
import { noStartProgress, postgresLocation, seedProgress, type StartProgress } from '../progress.ts';
import type { SubgraphConfig } from './config.ts';
import { executeResultsOnce } from './single-execution.ts';
import { refuseUnstorableInput } from './storable-input.ts';
import { serveSubscriptions, type ServedSubscriptions, type StreamReader } from './subscriptions.ts';
import { traceRootFields } from './tracing.ts';
import { readReplicasPlugin } from './read-replicas.ts';
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
  /**
   * Settles when the start is over: resolves once the subgraph serves (its
   * database answered, migrations and seed ran, its event bus connected) or
   * once it was stopped first; rejects if it gave up waiting
   * (`lifecycle.startupTimeoutMs`) or a migration or the seed failed.
   */
  ready: Promise<void>;
  /** Where the subgraph is: waiting for what, migrating, seeding, ready, draining or stopped. */
  phase(): ServicePhase;
  /** Readiness answers 503 from now on, while requests are still served (`drain` in http/server.ts). */
  drain(): void;
  /** Stops accepting requests, waits for open ones, stops background work, then closes the database. */
  stop(): Promise<void>;
  /** What `stop` still waits for, for the log when it overruns its bound. */
  stillOpen(): Promise<string[]>;
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9466/metrics; null when metrics are not served. */
  metricsUrl: string | null;
  /** Subscriptions the router has open on this subgraph now, and has started since it started. */
  subscriptions(): { active: number; started: number };
}

export type SubgraphStartSettings = Pick<
  SubgraphConfig,
  'host' | 'port' | 'database' | 'migrateOnStart' | 'seedIfEmpty' | 'nodeEnv'
> &
  Partial<Pick<SubgraphConfig, 'identitySecret' | 'redisUrl' | 'eventStreamPrefix' | 'lifecycle'>> & {
    /** Where `/metrics` is served, apart from the public port. Default: 127.0.0.1, a free port; null: nowhere. */
    metrics?: SubgraphConfig['metrics'] | null;
    /**
     * Carries events between subgraphs. Default: Redis Streams on
     * `redisUrl`, or none, in which case events wait in the outbox.
     */
    bus?: EventBus | null;
    /** Told each step of the start (waiting, migrating, seeding, ready), for `npm start`'s output. Default: no one. */
    progress?: StartProgress;
  };

/** Reads and parses the subgraph's SDL file. */
export function loadTypeDefs(schemaFile: URL) {
  return parse(readFileSync(schemaFile, 'utf8'));
}

/**
 * Starts the subgraph as `launchSubgraph` does and resolves once it serves;
 * a start that fails is stopped before its error is thrown. The caller owns
 * the returned handle.
 */
export async function startSubgraph<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
  config: SubgraphStartSettings,
  logger: Logger = createLogger({ service: definition.name }),
): Promise<RunningSubgraph<TTables>> {
  const subgraph = await launchSubgraph(definition, config, logger);
  try {
    await subgraph.ready;
  } catch (error) {
    await subgraph.stop().catch(() => {});
    throw error;
  }
  return subgraph;
}

/**
 * Listens at once, then waits with backoff for the database (and for Redis,
 * when events travel there) before it migrates and seeds as configured and
 * starts its background work: a dependency that is not up yet delays the
 * start instead of failing it. Meanwhile `/health/live` answers 200 and
 * `/health/ready` 503, saying what the start waits for. GraphQL is served
 * as ever (what needs the database is DATABASE_UNAVAILABLE), except while
 * migrations or the seed are pending: then it is refused with 503, since
 * the tables are not what the resolvers expect. Resolves once listening;
 * `ready` tells when the start is over, and the handle can be stopped at
 * any point.
 */
export async function launchSubgraph<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
  config: SubgraphStartSettings,
  logger: Logger = createLogger({ service: definition.name }),
): Promise<RunningSubgraph<TTables>> {
  const metrics = new Metrics();
  const progress = config.progress ?? noStartProgress;
  progress(
    config.database.kind === 'postgres'
      ? { step: 'opening', database: 'postgres', where: postgresLocation(config.database.url) }
      : { step: 'opening', database: 'pglite', where: config.database.dataDir ?? '(in memory)' },
  );
  const database = await openDatabase(config.database, definition.tables, { metrics, logger });
  // Read-your-writes records live in the Redis the events travel on (`redis` below, on the same condition), once connected.
  let recordsRedis: RedisCache | null = null;
  const lifecycle = new ServiceLifecycle({ phase: 'waiting', for: ['database'], reason: null });
  const { server, apollo, subscriptions } = await createSubgraphServer(definition, database, {
    production: config.nodeEnv === 'production',
    identitySecret: config.identitySecret ?? null,
    logger,
    metrics,
    lifecycle,
    preparesOnStart: config.migrateOnStart || config.seedIfEmpty !== null,
    streams: () => events?.streams ?? null,
    eventsWritten: () => events?.relayNow(),
    recordsRedis: definition.events && config.bus === undefined && config.redisUrl ? () => recordsRedis : null,
  }).catch(async (error: unknown) => {
    await database.close().catch(() => {});
    throw error;
  });
  const listening = await listen(server, config.port, config.host).catch(async (error: unknown) => {
    await apollo.stop().catch(() => {});
    await database.close().catch(() => {});
    throw error;
  });
  const url = `${listening.url}/graphql`;
  const metricsEndpoint = await serveMetricsApart(metrics, config.metrics, logger).catch(async (error: unknown) => {
    await close(server);
    await apollo.stop().catch(() => {});
    await database.close().catch(() => {});
    throw error;
  });
  const metricsUrl = metricsEndpoint.url;

  const aborted = new AbortController();
  const startupTimeoutMs = config.lifecycle?.startupTimeoutMs ?? null;
  const waiting = {
    deadline: startupTimeoutMs === null ? null : Date.now() + startupTimeoutMs,
    signal: aborted.signal,
    logger,
  };
  let background: BackgroundWork | undefined;
  let events: RunningEvents | null = null;
  const ready = (async () => {
    await waitFor(() => database.ping(), {
      ...waiting,
      what: 'the database',
      onFailure: (reason) => {
        lifecycle.enter({ phase: 'waiting', for: ['database'], reason });
        progress({ step: 'waiting', for: 'database', reason });
      },
    });
    if (config.migrateOnStart) {
      lifecycle.enter({ phase: 'migrating' });
      progress({ step: 'migrating' });
      // Replicas starting together take turns; a stop ends the wait for the lock.
      await database.migrate(subgraphFiles(definition).migrationsFolder, { logger, signal: aborted.signal });
    }
    if (config.seedIfEmpty && (await isTableEmpty(database.db, definition.seedTable))) {
      lifecycle.enter({ phase: 'seeding' });
      logger.info({ size: config.seedIfEmpty }, 'database is empty; seeding');
      await definition.seed(
        database.db,
        config.seedIfEmpty,
        seedProgress(progress, config.seedIfEmpty, aborted.signal),
      );
      // Fresh statistics, so the planner sees the bulk-loaded tables as they are.
      await database.db.execute(sql`analyze`);
    }
    // Events travel on Redis Streams unless a bus is given; the stream reads need a connection first.
    const redis =
      definition.events && config.bus === undefined && config.redisUrl
        ? new RedisCache({ url: config.redisUrl, logger })
        : null;
    try {
      if (redis) {
        lifecycle.enter({ phase: 'waiting', for: ['redis'], reason: null });
        await waitFor(
          async () => {
            // On a cluster, some master up and the layout known: one master down is handled per key once running.
            if (!redis.available)
              throw redis.failure instanceof Error ? redis.failure : new Error('connecting', { cause: redis.failure });
          },
          {
            ...waiting,
            what: 'redis',
            onFailure: (reason) => {
              lifecycle.enter({ phase: 'waiting', for: ['redis'], reason });
              progress({ step: 'waiting', for: 'redis', reason });
            },
          },
        );
      }
      // Stopped during the migrations or the seed: start nothing more.
      aborted.signal.throwIfAborted();
    } catch (error) {
      await redis?.close();
      throw error;
    }
    background = definition.background?.({ db: database.db, logger });
    events = definition.events ? startEvents(definition, database.db, { ...config, redis }, logger, metrics) : null;
    recordsRedis = redis;
    lifecycle.enter({ phase: 'ready' });
    logger.info({ url, metrics: metricsUrl, database: database.kind }, 'subgraph ready');
    progress({ step: 'ready', url });
  })().catch((error: unknown) => {
    // Stopped while starting: the start is over, and nothing failed.
    if (aborted.signal.aborted) return;
    throw error;
  });

  const stopping = stopInOrder([
    {
      name: 'startup',
      stop: () => {
        aborted.abort();
        return ready.catch(() => {});
      },
    },
    // Before the HTTP server: an open subscription would keep its connection, and the close, waiting.
    { name: 'subscriptions', stop: () => subscriptions.close() },
    closeHttpServer(server),
    { name: 'graphql', stop: () => apollo.stop() },
    { name: 'event consumers and relay', stop: () => events?.stop() },
    { name: 'background work', stop: () => background?.stop() },
    { name: 'database', stop: () => database.close() },
    // Last: Prometheus can scrape the drain and the stop.
    { name: 'metrics server', stop: () => metricsEndpoint.close() },
  ]);
  return {
    name: definition.name,
    url,
    port: listening.port,
    database,
    ready,
    phase: () => lifecycle.phase,
    drain: () => lifecycle.drain(),
    stop: stopping.stop,
    stillOpen: stopping.stillOpen,
    metricsUrl,
    subscriptions: () => ({ active: subscriptions.active, started: subscriptions.started }),
  };
}

export interface SubgraphServerOptions {
  /** Masks uncoded errors, hides stack traces and turns introspection off. */
  production: boolean;
  /** Shared with the router, to verify the caller it forwards; null refuses any forwarded identity. */
  identitySecret?: string | null;
  logger: Logger;
  /** Served at `/metrics`, with every request timed into it. Default: a registry of its own. */
  metrics?: Metrics;
  /**
   * Where the subgraph is (`launchSubgraph` moves it on): until it is
   * ready, `/health/ready` reports what the start is doing in place of its
   * own checks. Default: ready from the start.
   */
  lifecycle?: ServiceLifecycle;
  /**
   * The start migrates or seeds: until it has, GraphQL requests are refused
   * with 503, since the tables are not what the resolvers expect. Default: false.
   */
  preparesOnStart?: boolean;
  /** The event streams subscriptions read, once events run; null until then, or without a bus. Default: none. */
  streams?: () => StreamReader | null;
  /** Told after a request committed events to the outbox (the relay publishes them at once). Default: nothing. */
  eventsWritten?: () => void;
  /**
   * With read replicas: the subgraph's Redis, where each caller's last write
   * position is kept for every instance to see (read-replicas.ts); null
   * until it is connected. Default: none, the positions stay in this process.
   */
  recordsRedis?: (() => RedisCache | null) | null;
}

/** Builds the Apollo Server and its HTTP front without listening, for in-process tests. */
export async function createSubgraphServer<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
  database: DatabaseHandle<TTables>,
  {
    production,
    identitySecret = null,
    logger,
    metrics = new Metrics(),
    lifecycle = new ServiceLifecycle(),
    preparesOnStart = false,
    streams = () => null,
    eventsWritten = () => {},
    recordsRedis = null,
  }: SubgraphServerOptions,
): Promise<{
  server: Server;
  apollo: ApolloServer<SubgraphContext<TTables, TLoaders> & MetricsContext>;
  subscriptions: ServedSubscriptions;
}> {
  type Context = SubgraphContext<TTables, TLoaders> & MetricsContext;
  const schema = buildSubgraphSchema({
    typeDefs: loadTypeDefs(subgraphFiles(definition).schemaFile),
    resolvers: { DateTime: DateTimeScalar, ...definition.resolvers } as never,
  });
  executeResultsOnce(schema);
  // Wrapped before the access rules, so those run first: a caller who may not call a field learns nothing of its input.
  refuseUnstorableInput(schema);
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
    plugins: [
      ApolloServerPluginInlineTraceDisabled(),
      metrics.plugin(),
      requestLogPlugin(),
      // The router's response cache purges what a mutation changed before it answers.
      reportRecordedEventsPlugin(),
      // Where each query reads, and each signed-in mutation's write position, with read replicas.
      ...(database.replicas
        ? [
            readReplicasPlugin({
              replicas: database.replicas,
              subgraph: definition.name,
              createLoaders: definition.createLoaders,
              redis: recordsRedis,
              logger,
            }),
          ]
        : []),
    ],
    // Signals are the entry point's to handle (platform/src/process.ts), after draining HTTP.
    stopOnTerminationSignals: false,
    logger,
  });
  await apollo.start();
  const identity = identitySecret ? await createIdentityVerifier(identitySecret) : noIdentityVerifier;

  const server = createHttpService({
    logger,
    metrics,
    lifecycle,
    // Every line a resolver, loader or plugin logs carries the request's id: a
    // subgraph records its events in an AsyncLocalStorage anyway
    // (recordingEvents), so one more store costs it nothing.
    graphql: (httpGraphQLRequest, _incoming, observed) =>
      withRequestLogFields({ requestId: httpGraphQLRequest.headers.get(requestIdHeader) ?? '' }, async () => {
        if (awaitsTables(lifecycle.phase, preparesOnStart)) {
          return errorResponse(
            ErrorCode.DatabaseUnavailable,
            `The ${definition.name} database is unavailable. Try again shortly.`,
            { headers: [['retry-after', '5']] },
          );
        }
        let viewer: Viewer | null;
        try {
          viewer = await identity.verify(httpGraphQLRequest.headers.get(identityHeader));
        } catch (error) {
          if (!(error instanceof IdentityError)) throw error;
          logger.warn({ reason: error.message }, 'refused a request with a forwarded identity that does not verify');
          return unauthenticatedResponse('The forwarded identity is not accepted.');
        }
        return recordingEvents(async () => {
          const response = await apollo.executeHTTPGraphQLRequest({
            httpGraphQLRequest,
            context: async () => ({
              viewer,
              db: database.db,
              loaders: definition.createLoaders(database.db),
              observed,
            }),
          });
          // Committed by now: relayed at once rather than at the relay's next poll, so subscribers hear of it promptly.
          if (recordedSoFar().length > 0) eventsWritten();
          return response;
        });
      }),
    readiness: async (phase) =>
      checksWhileStarting(phase) ?? {
        schema: { ok: true },
        database: await database.ping().then(
          () => ({ ok: true }),
          (error: unknown) => ({ ok: false, detail: describeFailure(error) }),
        ),
      },
  });
  // The router runs the subgraph's subscriptions over graphql-ws on the same path.
  const subscriptions = serveSubscriptions({
    server,
    path: '/graphql',
    schema,
    identity,
    production,
    logger,
    contextFor: (viewer, subscription) => ({
      viewer,
      db: database.db,
      loaders: definition.createLoaders(database.db),
      subscription,
      streams: streams(),
    }),
  });
  return { server, apollo, subscriptions };
}

/**
 * Whether the tables are not yet what the resolvers expect: migrations or
 * the seed are pending or under way. A start that neither migrates nor
 * seeds serves while it waits for the database, and what needs it is
 * DATABASE_UNAVAILABLE.
 */
function awaitsTables(phase: ServicePhase, preparesOnStart: boolean): boolean {
  switch (phase.phase) {
    case 'waiting':
      // Past the database, only Redis is waited for, after the migrations and the seed.
      return preparesOnStart && phase.for.includes('database');
    case 'migrating':
    case 'seeding':
      return true;
    case 'draining':
      return awaitsTables(phase.from, preparesOnStart);
    case 'ready':
    case 'stopped':
      return false;
    default:
      return assertNever(phase, 'service phase');
  }
}

/** What `/health/ready` says in place of the subgraph's own checks while it starts; null once ready. */
function checksWhileStarting(phase: LivePhase): ReadinessChecks | null {
  switch (phase.phase) {
    case 'waiting': {
      const because = phase.reason === null ? '' : `: ${phase.reason}`;
      return phase.for.includes('redis')
        ? { database: { ok: true }, redis: { ok: false, detail: `waiting for redis${because}` } }
        : { database: { ok: false, detail: `waiting for the database${because}` } };
    }
    case 'migrating':
      return { database: { ok: false, detail: 'applying migrations' } };
    case 'seeding':
      return { database: { ok: false, detail: 'seeding' } };
    case 'ready':
      return null;
    default:
      return assertNever(phase, 'service phase');
  }
}

/** The subgraph's event work, and the bus its subscriptions read. */
interface RunningEvents extends BackgroundWork {
  streams: StreamReader;
  /** Relays what was just committed to the outbox now, not at the next poll. */
  relayNow(): void;
}

/**
 * The outbox relay and the consumers a subgraph declares, on the bus it is
 * given or on Redis Streams. Without either, nothing is relayed: events wait
 * in the outbox, never lost, until the subgraph runs with a bus.
 */
function startEvents<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
  db: Database<TTables>,
  /** `redis`: connected for the events when no bus is given; this function's to close from then on. */
  config: { bus?: EventBus | null; redis: RedisCache | null; eventStreamPrefix?: string },
  logger: Logger,
  metrics: Metrics,
): RunningEvents | null {
  const redis = config.redis;
  const bus =
    config.bus ??
    (redis
      ? withStreamPrefix(createEventBus({ redis: redis.connection, logger }), config.eventStreamPrefix ?? '')
      : null);
  const publishes = (definition.events?.publishes?.length ?? 0) > 0;
  const outboxAge = publishes ? () => oldestUnpublishedAgeSeconds(db as Database<DrizzleSchema>) : null;
  if (!bus) {
    logger.warn('no event bus (REDIS_URL unset): events wait in the outbox and none are consumed');
    // Waiting is exactly when their age matters.
    registerEventMetrics({ metrics, bus: null, consumed: [], outboxAge });
    return null;
  }
  const relay = publishes ? new OutboxRelay({ db: db as Database<DrizzleSchema>, bus, logger }) : null;
  relay?.start();
  const consumer = `${definition.name}-${hostname()}-${process.pid}`;
  const consumes = consumersOf(definition.events?.consumes ?? []);
  const subscriptions = consumes.map(({ stream, handle }) =>
    bus.subscribe({
      stream,
      group: definition.name,
      consumer,
      // A handler's own events (stock reserved for an order) are relayed at once, as a request's are.
      handle: async (event) => {
        await handle(event, db);
        relay?.wake();
      },
    }),
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
    streams: bus,
    relayNow: () => relay?.wake(),
    async stop() {
      await Promise.all(subscriptions.map((subscription) => subscription.stop()));
      await forgetting?.stop();
      await relay?.stop();
      // A bus on the Redis connected for it is this subgraph's to close; one passed in is the caller's.
      if (redis) {
        await bus.close();
        await redis.close();
      }
    },
  };
}
