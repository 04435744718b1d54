import { setMaxListeners } from 'node:events';
import type { ApolloGateway, GraphQLDataSource } from '@apollo/gateway';
import { Supergraph } from '@apollo/federation-internals';
import type {
  GatewayApolloConfig,
  GatewayExecutionResult,
  GatewayExecutor,
  GatewayGraphQLRequestContext,
  GatewayInterface,
  GatewayLoadResult,
  GatewaySchemaLoadOrUpdateCallback,
  GatewayUnsubscriber,
} from '@apollo/server-gateway-interface';
import {
  DirectiveLocation,
  getVariableValues,
  GraphQLBoolean,
  GraphQLDirective,
  GraphQLError,
  GraphQLNonNull,
  GraphQLSchema,
  GraphQLString,
  type ExecutionResult,
  type OperationDefinitionNode,
} from 'graphql';
import { ErrorCode } from '../../../platform/src/errors.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import type { Logger } from '../../../platform/src/logger.ts';
import { inChildSpan } from '../../../platform/src/tracing.ts';
import { deferredOperation, executeIncrementally, incrementalFormatOf, withoutDefer } from './defer/index.ts';
import { SubgraphSubscriptions } from '../subgraph-fetch/subscriptions.ts';
import { executePlan } from './execute-plan.ts';
import { subscriptionEvents, subscriptionFieldOf, type SubscriptionEventsOptions } from './subscription.ts';
import { fanOutKey, SubscriptionFanOut } from './subscription-fan-out.ts';
import { localPlans, type PlanSource } from './plan-source.ts';

export { executePlan, fetchPlan, ExecutorErrorCode, type ExecutePlanOptions } from './execute-plan.ts';
export { localPlans, type PlanRequest, type PlanSource } from './plan-source.ts';

export interface OwnExecutorGatewayOptions {
  /** Loads the supergraph and gives Apollo Server its schema; its own executor is never used. */
  gateway: ApolloGateway;
  /** The supergraph the gateway was given, as it was given (SECURITY links this router enforces already relaxed). */
  supergraphSdl: string;
  /** The data source of each subgraph, by name: the same ones the gateway built, so their state is shared. */
  dataSource: (subgraphName: string) => GraphQLDataSource;
  /** Where query plans come from. Default: localPlans(supergraphSdl), an in-memory LRU of this process. */
  plans?: PlanSource;
  logger: Logger;
}

/** The per-request fields the executor reads: the progressive-override labels on for this caller, and the request's id. */
interface RouterRequestContext {
  overrideLabels?: ReadonlySet<string>;
  viewer?: Viewer | null;
  requestId?: string;
  /** Present when the request came over a protocol that streams a subscription's events. */
  subscriptions?: SubscriptionSink;
}

/**
 * What a subscription's transport (graphql-ws, SSE) puts on the request
 * context: the operation runs through the router like any request (plugins,
 * validation, limits), and the executor hands the transport its events
 * instead of answering.
 */
export interface SubscriptionSink {
  /** The position of the last event the client received, for it to resume after; null: from now. */
  resumeAfter: string | null;
  /** The caller's identity signed now: a subscription outlives one signature. */
  identity(): Promise<string | null>;
  /** Aborted when the client is gone. */
  readonly signal: AbortSignal;
  /** The router closed this subscriber for falling too far behind its shared upstream's events (metrics). */
  closedTooSlow(): void;
  /**
   * `field`: the subscription's root field, for metrics. The events end
   * with a SubscriptionRestart thrown when the gateway that serves them stops.
   */
  accept(events: AsyncIterableIterator<ExecutionResult>, about: { field: string }): void;
}

/**
 * How a subscription's events end when the graph version serving it stops
 * (a reload retired it): the client should subscribe again after the last
 * position it received, and then lands on the version serving now. Each
 * protocol says so as a restarting router does (router/src/subscriptions).
 * Thrown by `next()` rather than sent as an event or an end, so no
 * transport can take it for a result or for the stream being over.
 */
export class SubscriptionRestart extends Error {
  constructor() {
    super('The graph serving this subscription stopped: subscribe again to resume after the last event.');
  }
}

const noLabels: ReadonlySet<string> = new Set();

/** `@defer` as the incremental delivery RFC declares it (graphql-js 16 has no definition of its own). */
const deferDirective = new GraphQLDirective({
  name: 'defer',
  locations: [DirectiveLocation.FRAGMENT_SPREAD, DirectiveLocation.INLINE_FRAGMENT],
  args: {
    label: { type: GraphQLString },
    if: { type: new GraphQLNonNull(GraphQLBoolean), defaultValue: true },
  },
});

/**
 * The stock gateway with `@defer` declared in its schema, as the router's
 * own executor declares it: the same documents validate with either. Its
 * planner plans without incremental delivery, so it answers a deferred
 * operation whole.
 */
export function withDeferDeclared(gateway: ApolloGateway): GatewayInterface {
  return {
    load: (options) => gateway.load(options),
    onSchemaLoadOrUpdate: (callback) =>
      gateway.onSchemaLoadOrUpdate((update) => callback({ ...update, apiSchema: withDefer(update.apiSchema) })),
    stop: () => gateway.stop(),
  };
}

function withDefer(schema: GraphQLSchema): GraphQLSchema {
  if (schema.getDirective('defer')) return schema;
  const config = schema.toConfig();
  return new GraphQLSchema({ ...config, directives: [...config.directives, deferDirective] });
}

/**
 * A gateway for Apollo Server whose executor is the router's own
 * (./execute-plan.ts): the inner ApolloGateway still loads the supergraph
 * and reports the schema, and its data sources, built by the router, serve
 * both. Plans come from a PlanSource, so they honour override labels and
 * can be shared between instances.
 */
export class OwnExecutorGateway implements GatewayInterface {
  private readonly gateway: ApolloGateway;
  private readonly dataSource: (subgraphName: string) => GraphQLDataSource;
  private readonly plans: PlanSource;
  private readonly supergraphSchema: GraphQLSchema;
  private readonly apiSchema: GraphQLSchema;
  private readonly logger: Logger;
  /** Sockets to the subgraphs for subscriptions, opened on the first one. */
  private subgraphSubscriptions: SubgraphSubscriptions | null = null;
  /** Identical subscriptions' shared upstreams. */
  private readonly fanOut = new SubscriptionFanOut();
  /** Aborted, with a SubscriptionRestart, when the gateway stops: every subscription it serves ends then. */
  private readonly stopping = new AbortController();

  constructor({ gateway, supergraphSdl, dataSource, plans, logger }: OwnExecutorGatewayOptions) {
    this.gateway = gateway;
    this.dataSource = dataSource;
    this.logger = logger;
    const supergraph = Supergraph.build(supergraphSdl);
    this.supergraphSchema = supergraph.schema.toGraphQLJSSchema();
    // With @defer declared, as Apollo Server validates against it (`withDefer`) and introspection shows it.
    this.apiSchema = supergraph.apiSchema().toGraphQLJSSchema({ includeDefer: true });
    this.plans = plans ?? localPlans(supergraph);
    // One listener per open subscription (`untilStopped`): thousands of them are the design, not a leak.
    setMaxListeners(Infinity, this.stopping.signal);
  }

  async load(options: { apollo: GatewayApolloConfig }): Promise<GatewayLoadResult> {
    await this.gateway.load(options);
    return { executor: this.executor };
  }

  /** The inner gateway's schema, with `@defer` declared: this executor runs it (./defer). */
  onSchemaLoadOrUpdate(callback: GatewaySchemaLoadOrUpdateCallback): GatewayUnsubscriber {
    return this.gateway.onSchemaLoadOrUpdate((update) =>
      callback({ ...update, apiSchema: withDefer(update.apiSchema) }),
    );
  }

  async stop(): Promise<void> {
    // Before the sockets close: closing them would end the subscriptions as complete, or have them
    // reconnect on this version. A subscription is no in-flight request, so a retired version stops under them.
    this.stopping.abort(new SubscriptionRestart());
    await this.subgraphSubscriptions?.close();
    await this.gateway.stop();
  }

  readonly executor: GatewayExecutor = (requestContext: GatewayGraphQLRequestContext) =>
    // The span @apollo/gateway makes for an execution, under the same name: the fetches' spans hang from it.
    inChildSpan('gateway.request', {}, () => this.execute(requestContext));

  private async execute(requestContext: GatewayGraphQLRequestContext): Promise<GatewayExecutionResult> {
    // Apollo Server leaves resolving the operation to the gateway too: no operation by that name is the client's mistake.
    if (!(requestContext.operation as OperationDefinitionNode | undefined)) {
      const named = requestContext.request.operationName;
      return {
        errors: [
          new GraphQLError(
            named
              ? `Unknown operation named "${named}".`
              : 'Must provide operation name if query contains multiple operations.',
            {
              extensions: { code: ErrorCode.OperationResolutionFailure, http: { status: 400 } },
            },
          ),
        ],
      };
    }
    // Apollo Server leaves variable coercion to the gateway: a bad value is refused before any fetch.
    const { coerced, errors } = getVariableValues(
      requestContext.schema,
      requestContext.operation.variableDefinitions ?? [],
      requestContext.request.variables ?? {},
    );
    if (errors) return { errors };
    const context = requestContext.context as RouterRequestContext;
    // An operation with @defer is answered in parts when the client accepts them, else whole (./defer).
    const format = incrementalFormatOf(requestContext.request.http?.headers.get('accept') ?? undefined);
    const deferred = format
      ? deferredOperation(this.apiSchema, requestContext.document, requestContext.operation, coerced)
      : null;
    let plan;
    try {
      plan = await this.plans.planFor({
        // Answered whole, an operation is planned without its @defer: no Defer node holds its fetches back.
        document: deferred ? deferred.planned : withoutDefer(requestContext.document),
        operationName: requestContext.operationName,
        overrideLabels: context.overrideLabels ?? noLabels,
      });
    } catch (error) {
      this.logger.warn(
        { err: error, requestId: context.requestId, operationName: requestContext.operationName },
        'no query plan for operation',
      );
      throw error;
    }
    const options = {
      plan,
      supergraphSchema: this.supergraphSchema,
      apiSchema: this.apiSchema,
      requestContext,
      dataSource: this.dataSource,
      variables: coerced,
    };
    if (requestContext.operation.operation === 'subscription') return this.subscribe(options, context);
    if (deferred && format)
      // Apollo Server (patched, see patches/) streams a gateway's incremental result as it does its own executor's.
      return (await executeIncrementally(options, deferred, format)) as GatewayExecutionResult;
    return executePlan(options);
  }

  /** Hands a subscription's events to its transport; the answer itself says nothing. */
  private subscribe(
    options: Omit<SubscriptionEventsOptions, 'subscribe' | 'identity' | 'resumeAfter'>,
    context: RouterRequestContext,
  ): GatewayExecutionResult {
    const sink = context.subscriptions;
    if (!sink)
      return {
        errors: [
          new GraphQLError(
            'Subscriptions are served over WebSocket (graphql-ws) and Server-Sent Events at this path, not over a plain POST.',
            { extensions: { code: ErrorCode.BadRequest, http: { status: 400 } } },
          ),
        ],
      };
    this.subgraphSubscriptions ??= new SubgraphSubscriptions(
      (subgraph) => (this.dataSource(subgraph) as unknown as { url: string }).url,
      this.logger,
    );
    const { requestContext, variables } = options;
    const key = fanOutKey({
      queryHash: requestContext.queryHash,
      operationName: requestContext.operationName ?? null,
      variables,
      overrideLabels: context.overrideLabels ?? noLabels,
      resumeAfter: sink.resumeAfter,
      viewer: context.viewer ?? null,
    });
    const subscribe = this.subgraphSubscriptions.subscribe;
    const open = (signal: AbortSignal) =>
      subscriptionEvents({
        ...options,
        subscribe,
        identity: () => sink.identity(),
        resumeAfter: sink.resumeAfter,
        signal,
      });
    const stopping = this.stopping.signal;
    // One that reached the executor as its version stopped (at the drain deadline) opens nothing on it.
    const events = stopping.aborted
      ? noEvents()
      : key
        ? this.fanOut.join(key, open, () => sink.closedTooSlow())
        : open(sink.signal);
    sink.accept(untilStopped(events, stopping), { field: subscriptionFieldOf(requestContext.operation) });
    return { data: null };
  }
}

async function* noEvents(): AsyncGenerator<ExecutionResult> {}

/**
 * `events` until `stopped` aborts, then its reason thrown by `next()`: at
 * once, though the next event may be days away. The events are ended
 * (`return()`) then too, so the subgraph's subscription closes whatever
 * the transport does.
 */
function untilStopped<T>(events: AsyncIterator<T>, stopped: AbortSignal): AsyncIterableIterator<T> {
  let rejectPending: (reason: unknown) => void = () => {};
  const stop = () => {
    rejectPending(stopped.reason);
    void events.return?.().catch(() => {});
  };
  stopped.addEventListener('abort', stop, { once: true });
  const forget = () => stopped.removeEventListener('abort', stop);
  return {
    async next() {
      if (stopped.aborted) throw stopped.reason;
      const result = await new Promise<IteratorResult<T>>((resolve, reject) => {
        rejectPending = reject;
        events.next().then(resolve, reject);
      });
      if (result.done) forget();
      return result;
    },
    async return() {
      forget();
      return (await events.return?.()) ?? { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
