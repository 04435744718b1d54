import { setTimeout as sleep } from 'node:timers/promises';
import type { FetchNode, QueryPlan, SubscriptionNode } from '@apollo/query-planner';
import {
  GraphQLError,
  Kind,
  type ExecutionResult,
  type FormattedExecutionResult,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
} from 'graphql';
import { SpanKind } from '@opentelemetry/api';
import { ErrorCode } from '../../../platform/src/errors.ts';
import { inSpanContinuing } from '../../../platform/src/tracing.ts';
import { startPlan, type ExecutePlanOptions } from './execute-plan.ts';
import { shapeResponse } from './shape.ts';

/** What the router sends a subgraph to start (or resume) one subscription over graphql-ws. */
export interface SubgraphSubscribeRequest {
  query: string;
  operationName?: string;
  variables: Record<string, unknown>;
  /** platform/src/subgraph/subscriptions.ts `SubscriptionExtensions`. */
  extensions: { identity?: string; resumeAfter?: string };
}

/**
 * Opens a subscription on a subgraph: its results, until the subgraph
 * completes it. Throws a `SubscriptionConnectionLost` when the connection
 * goes (the subgraph instance stopped, the network failed), and the
 * errors the subgraph refused it with otherwise.
 */
export type SubscribeToSubgraph = (
  subgraph: string,
  request: SubgraphSubscribeRequest,
) => AsyncIterableIterator<FormattedExecutionResult>;

/** The connection to a subgraph went while a subscription ran on it: it can be resumed. */
export class SubscriptionConnectionLost extends Error {}

export interface SubscriptionEventsOptions extends ExecutePlanOptions {
  variables: Record<string, unknown>;
  subscribe: SubscribeToSubgraph;
  /** The caller's signed identity as it is now (it expires; a long subscription asks again). */
  identity: () => Promise<string | null>;
  /** Where the client asked to resume from: the position of the last event it received. */
  resumeAfter: string | null;
  /** Connection losses in a row before the subscription gives up. Default: 5. */
  maxReconnects?: number;
  /** Aborted when the client is gone: the subgraph's subscription ends at once, not at its next event. */
  signal?: AbortSignal;
}

/**
 * A federated subscription's events, each as the client gets it: the
 * subgraph that owns the field sends the event (the plan's `primary`
 * fetch, kept open), the rest of the plan completes it from the other
 * subgraphs (`rest`: entity fetches, run like any plan), and the result is
 * shaped for the client's operation. Errors of those fetches arrive with
 * the event. Each event carries its stream position in
 * `extensions.position`. When the connection to the subgraph goes, the
 * subscription is opened again after the last position delivered, so the
 * subgraph replays what was missed and nothing twice.
 */
export async function* subscriptionEvents(options: SubscriptionEventsOptions): AsyncGenerator<ExecutionResult> {
  const node = subscriptionNodeOf(options.plan);
  const { primary } = node;
  const { requestContext, variables } = options;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of requestContext.document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  let after = options.resumeAfter;
  const { signal } = options;
  const maxReconnects = options.maxReconnects ?? 5;
  const field = subscriptionFieldOf(options.requestContext.operation);
  for (let reconnects = 0; !signal?.aborted;) {
    const events = options.subscribe(primary.serviceName, {
      query: primary.operation,
      ...(primary.operationName ? { operationName: primary.operationName } : {}),
      variables: variablesFor(primary, variables),
      extensions: await subscribeExtensions(options, after),
    });
    const stop = () => void events.return?.();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for (;;) {
        const next = await events.next();
        if (next.done || signal?.aborted) return;
        reconnects = 0;
        const event = next.value;
        const position = event.extensions?.position;
        if (typeof position === 'string') after = position;
        const traceparent = event.extensions?.traceparent;
        // In the trace of the request that made the change, where it was traced: a change and its events read as one.
        yield await inSpanContinuing(
          typeof traceparent === 'string' ? traceparent : undefined,
          'subscription.event',
          { kind: SpanKind.CONSUMER, attributes: { 'graphql.subscription.field': field } },
          () => completeEvent(options, node, event, fragments, after),
        );
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (!(error instanceof SubscriptionConnectionLost) || reconnects >= maxReconnects) {
        yield { errors: [subscriptionFailed(error)] };
        return;
      }
      reconnects++;
      // Another instance of the subgraph takes over; give it a moment, longer each time.
      await sleep(Math.min(5_000, 100 * 2 ** reconnects), undefined, signal ? { signal } : {}).catch(() => {});
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }
}

/** The identity as signed now, and where to resume. */
async function subscribeExtensions(options: SubscriptionEventsOptions, after: string | null) {
  const identity = await options.identity();
  return { ...(identity ? { identity } : {}), ...(after ? { resumeAfter: after } : {}) };
}

/** The subscription's root field, as metrics and spans name it. */
export function subscriptionFieldOf(operation: OperationDefinitionNode): string {
  const root = operation.selectionSet.selections.find((selection) => selection.kind === Kind.FIELD);
  return root?.kind === Kind.FIELD ? root.name.value : 'unknown';
}

function subscriptionNodeOf(plan: QueryPlan): SubscriptionNode {
  const node = plan.node;
  if (node?.kind !== 'Subscription') throw new Error('not a subscription plan');
  return node;
}

function variablesFor(fetch: FetchNode, variables: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of fetch.variableUsages ?? []) if (variables[name] !== undefined) picked[name] = variables[name];
  return picked;
}

/** One event: the rest of the plan run over the subgraph's data, then shaped for the client. */
async function completeEvent(
  options: SubscriptionEventsOptions,
  node: SubscriptionNode,
  event: FormattedExecutionResult,
  fragments: Record<string, FragmentDefinitionNode>,
  position: string | null,
): Promise<ExecutionResult> {
  const { requestContext, apiSchema, variables } = options;
  const subgraphErrors = (event.errors ?? []).map(
    (error) =>
      new GraphQLError(error.message, {
        ...(error.path ? { path: error.path } : {}),
        extensions: error.extensions ?? {},
      }),
  );
  const data = (event.data ?? null) as Record<string, unknown> | null;
  let errors = subgraphErrors;
  if (data && node.rest) {
    // The entity fetches carry the identity signed for this event: the one signed at the start expires.
    (requestContext.context as { identity?: string | null }).identity = await options.identity();
    const running = startPlan({ ...options, plan: { kind: 'QueryPlan', node: node.rest } }, null, data);
    await running.done;
    errors = [...subgraphErrors, ...running.errors];
  }
  const shaped = shapeResponse({
    schema: apiSchema,
    operation: requestContext.operation,
    fragments,
    variables,
    data,
    errors,
  });
  return {
    data: shaped.data,
    ...(shaped.errors.length > 0 ? { errors: shaped.errors } : {}),
    ...(position ? { extensions: { position } } : {}),
  };
}

/** Why a subscription ended early, as the client is told: the subgraph's own words when it refused. */
function subscriptionFailed(error: unknown): GraphQLError {
  if (Array.isArray(error) && error.length > 0) {
    const first = error[0] as { message?: string; extensions?: Record<string, unknown> };
    return new GraphQLError(first.message ?? 'The subscription was refused.', {
      extensions: first.extensions ?? { code: ErrorCode.SubgraphUnavailable },
    });
  }
  return new GraphQLError('The subscription was interrupted. Subscribe again to resume after the last event.', {
    extensions: { code: ErrorCode.SubgraphUnavailable },
    originalError: error instanceof Error ? error : undefined,
  });
}
