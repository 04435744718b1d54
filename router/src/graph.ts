import { createHash } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { ApolloGateway } from '@apollo/gateway';
import { envPrefix } from '../../platform/src/config.ts';
import type { Logger } from '../../platform/src/logger.ts';
import type { RouterMetrics } from './metrics.ts';
import { errorsPlugin, routerErrorFormatter } from './errors.ts';
import type { RouterContext, RouterPlugin } from './plugins/plugin.ts';
import { OwnExecutorGateway, withDeferDeclared } from './executor/index.ts';
import { overrideLabelsOf, QueryPlans, warmLabelSets, type WarmUpReport } from './executor/plans/index.ts';
import { withSubgraphEnforcedSecurity } from './executor/served-supergraph.ts';
import { SubgraphFetch } from './subgraph-fetch/index.ts';
import type { SubgraphPolicies } from './subgraph-fetch/resilience.ts';

export type { RouterContext };

/**
 * @apollo/gateway sends usage data to Apollo's servers unless the
 * environment says not to, and it reads the environment itself. A
 * self-hosted graph talks to nothing its operator did not configure, so
 * the router says not to when it starts (never at import); an operator's
 * own `APOLLO_TELEMETRY_DISABLED=false` opts in.
 */
export function disableApolloTelemetry(env: NodeJS.ProcessEnv = process.env): void {
  env.APOLLO_TELEMETRY_DISABLED ??= 'true';
}

export interface GraphOptions {
  /** Masks internal errors and turns introspection off. */
  production: boolean;
  /**
   * How long a replaced version may keep serving its in-flight requests
   * before it is stopped anyway, so a hung request cannot keep an old
   * gateway alive forever. Default: 30 s, Apollo Router's request timeout.
   */
  drainTimeoutMs?: number;
  /** Routing URL overrides keyed by subgraph env prefix (see RouterConfig). */
  subgraphUrls: Record<string, string>;
  /**
   * Timeouts, retries and circuit breakers of subgraph fetches. Each version
   * has breakers of its own, so a reload starts them closed. Default:
   * defaultSubgraphPolicy for every subgraph.
   */
  subgraphPolicy?: SubgraphPolicies;
  /**
   * Where automatic persisted queries are registered. The router shares one
   * cache across all its versions, so a reload forgets no query, and with
   * Redis across all instances, so a query registered on one is found by all.
   */
  persistedQueries: { cache: KeyValueCache<string>; ttlSeconds: number };
  /** The router's plugins: their Apollo Server plugins and per-version contributions go into every version. */
  plugins?: readonly RouterPlugin[];
  /** Accept arrays of operations in one HTTP request. Default: false. */
  allowBatchedRequests?: boolean;
  /** Where operations, APQ lookups and subgraph fetches are counted; null: nowhere. */
  metrics?: RouterMetrics | null;
  /**
   * Who runs query plans: `stock`, @apollo/gateway's executor, or `own`,
   * the router's (./executor), which also applies `@fromContext`
   * arguments and merges the fetches of a plan step across branches.
   * Default: own.
   */
  executor?: ExecutorKind;
  /**
   * The own executor's query plans (./executor/plans). `shared` is the
   * cache router instances share (Redis), so one instance plans each
   * operation for the fleet; null keeps plans in this process only.
   */
  queryPlans?: { shared: KeyValueCache<string> | null };
  logger: Logger;
}

/** Who runs query plans: @apollo/gateway's executor, or the router's own. */
export type ExecutorKind = 'stock' | 'own';

/** A supergraph version's id: a sha-256 prefix of its SDL, so the same file always has the same id. */
export function graphIdOf(supergraphSdl: string): string {
  return createHash('sha256').update(supergraphSdl).digest('hex').slice(0, 12);
}

/**
 * One supergraph, served by its own gateway and Apollo Server. A version
 * never changes once built: a reload builds a new one, new requests go to
 * it, and the old one serves its in-flight requests to the end before it is
 * stopped. The gateway alone cannot promise that, because its executor
 * reads the current query planner after an await. A subscription is no
 * in-flight request: the old version's end when it stops, each as a
 * restart (executor SubscriptionRestart), and its client subscribes again,
 * on the new version, after the last position it received.
 */
export class GraphVersion {
  readonly id: string;
  private inFlight = 0;
  private retired = false;
  private stopped: Promise<void> | null = null;

  private constructor(
    readonly supergraphSdl: string,
    readonly server: ApolloServer<RouterContext>,
    private readonly subgraphs: readonly SubgraphFetch[],
    private readonly logger: Logger,
    private readonly drainTimeoutMs: number,
    /** How planning the trusted operations went before this version served; null with the stock executor. */
    readonly warmUp: WarmUpReport | null,
  ) {
    this.id = graphIdOf(supergraphSdl);
  }

  /** Builds and starts a version; rejects, with the gateway's reason, if the supergraph is unusable. */
  static async build(
    supergraphSdl: string,
    {
      production,
      subgraphUrls,
      subgraphPolicy = {},
      persistedQueries,
      plugins = [],
      allowBatchedRequests = false,
      metrics = null,
      executor = 'own',
      queryPlans = { shared: null },
      logger,
      drainTimeoutMs = 30_000,
    }: GraphOptions,
  ): Promise<GraphVersion> {
    const subgraphs: SubgraphFetch[] = [];
    const served = withSubgraphEnforcedSecurity(supergraphSdl, { contextArguments: executor === 'own' });
    const apolloGateway = new ApolloGateway({
      supergraphSdl: served,
      logger,
      buildService: ({ name, url }) => {
        const prefix = envPrefix(name);
        const subgraph = new SubgraphFetch({
          name,
          url: subgraphUrls[prefix] ?? url!,
          policy: { ...subgraphPolicy.all, ...subgraphPolicy.bySubgraph?.[name] },
          observer: metrics,
          logger,
        });
        subgraphs.push(subgraph);
        return subgraph;
      },
    });
    const plans =
      executor === 'own'
        ? new QueryPlans(supergraphSdl, { shared: queryPlans.shared, observer: metrics, logger })
        : null;
    const gateway =
      plans !== null
        ? new OwnExecutorGateway({
            gateway: apolloGateway,
            supergraphSdl: served,
            plans,
            // The gateway builds every data source when it loads, before the first request.
            dataSource: (name) => {
              const subgraph = subgraphs.find((candidate) => candidate.name === name);
              if (!subgraph) throw new Error(`the supergraph has no subgraph named "${name}"`);
              return subgraph;
            },
            logger,
          })
        : withDeferDeclared(apolloGateway);
    const id = graphIdOf(supergraphSdl);
    const contributions = plugins.map((plugin) => ({
      plugin,
      graph: plugin.graph?.({ sdl: supergraphSdl, id }) ?? {},
    }));
    const server = new ApolloServer<RouterContext>({
      gateway,
      introspection: !production,
      includeStacktraceInErrorResponses: !production,
      // One operation per HTTP request unless configured: a batch multiplies every other limit.
      allowBatchedHttpRequests: allowBatchedRequests,
      validationRules: contributions.flatMap(({ graph }) => graph.validationRules ?? []),
      parseOptions: Object.assign({}, ...contributions.map(({ graph }) => graph.parseOptions)) as {
        maxTokens?: number;
      },
      // The router handles SIGTERM itself, after draining.
      stopOnTerminationSignals: false,
      // Apollo verifies each query's sha256 and keys entries under `apq:`.
      persistedQueries: { cache: persistedQueries.cache, ttl: persistedQueries.ttlSeconds },
      plugins: [
        // Log lines name their request explicitly (errorsPlugin, the executor):
        // the router keeps no AsyncLocalStorage (platform/src/http/server.ts).
        errorsPlugin({ logger, production }),
        ...contributions.flatMap(({ plugin, graph }) => [
          ...(graph.apollo ?? []),
          ...(plugin.apollo ? [plugin.apollo] : []),
        ]),
        ...(metrics ? metrics.plugins() : []),
      ],
      formatError: routerErrorFormatter({ production }),
      logger,
    });
    try {
      await server.start();
    } catch (error) {
      await Promise.all(subgraphs.map((subgraph) => subgraph.close()));
      throw error;
    }
    // Before the version is returned, so neither readiness nor a reload's swap sees it unplanned.
    const warmUp = plans ? await warmUpPlans(plans, supergraphSdl, plugins, id, logger) : null;
    return new GraphVersion(supergraphSdl, server, subgraphs, logger, drainTimeoutMs, warmUp);
  }

  /** Runs `work` as an in-flight request of this version. */
  async serve<T>(work: (server: ApolloServer<RouterContext>) => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await work(this.server);
    } finally {
      this.inFlight--;
      if (this.retired && this.inFlight === 0) void this.stop();
    }
  }

  /** No new requests will come; stop once the in-flight ones are done, or at the drain deadline. */
  retire(): void {
    this.retired = true;
    if (this.inFlight === 0) {
      void this.stop();
      return;
    }
    setTimeout(() => {
      if (this.inFlight > 0)
        this.logger.warn({ graphId: this.id, inFlight: this.inFlight }, 'drain deadline passed; stopping');
      void this.stop();
    }, this.drainTimeoutMs).unref();
  }

  get inFlightRequests(): number {
    return this.inFlight;
  }

  /** Stops the gateway; never rejects, so it can be fired and forgotten. */
  stop(): Promise<void> {
    this.stopped ??= this.server
      .stop()
      .then(() => Promise.all(this.subgraphs.map((subgraph) => subgraph.close())))
      .then(
        () => {},
        (error: unknown) => {
          this.logger.error({ err: error, graphId: this.id }, 'gateway did not stop cleanly');
        },
      );
    return this.stopped;
  }
}

/**
 * Plans every operation the plugins know clients send (the trusted
 * documents) under each label set requests can carry by chance, so that
 * none of them is planned on a request. Never fails the version: an
 * operation the new supergraph cannot plan is logged, and its requests get
 * the planner's error as they would have anyway.
 */
async function warmUpPlans(
  plans: QueryPlans,
  supergraphSdl: string,
  plugins: readonly RouterPlugin[],
  graphId: string,
  logger: Logger,
): Promise<WarmUpReport> {
  const operations = plugins.flatMap((plugin) => plugin.operations?.() ?? []);
  const report = await plans.warm(operations, { labelSets: warmLabelSets(overrideLabelsOf(supergraphSdl)) });
  const { failures, ...counts } = report;
  logger.info({ graphId, ...counts, ms: Math.round(report.ms) }, 'query plans ready for the trusted operations');
  if (failures.length > 0) logger.warn({ graphId, failures }, 'some trusted operations cannot be planned');
  return report;
}
