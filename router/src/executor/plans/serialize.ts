import type { FetchNode, PlanNode, QueryPlan, SubscriptionNode } from '@apollo/query-planner';
import { parse, type DocumentNode } from 'graphql';

/**
 * Bumped whenever the stored form changes, so an instance never reads an
 * entry written in another form as if it were its own: it is unreadable, and
 * planned again.
 */
const formatVersion = 1;

interface StoredPlan {
  v: typeof formatVersion;
  plan: QueryPlan;
}

/**
 * A plan as JSON. A plan is plain data (nodes, strings, paths, trimmed
 * selections) except for each fetch's `operationDocumentNode`, when the
 * planner exposes it: that document is the fetch's `operation` text parsed,
 * so it is left out, halving the entry, and parsed again on first use when
 * the plan is read back.
 */
export function serializePlan(plan: QueryPlan): string {
  const stored: StoredPlan = { v: formatVersion, plan };
  return JSON.stringify(stored, (key, value: unknown) => (key === 'operationDocumentNode' ? undefined : value));
}

/**
 * The plan stored by `serializePlan`, or null when `text` is not one: not
 * JSON, another format version, or a node this code cannot execute. Fetches
 * get their `operationDocumentNode` back, lazily, when `withDocuments`.
 */
export function deserializePlan(text: string, { withDocuments }: { withDocuments: boolean }): QueryPlan | null {
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(stored) || stored.v !== formatVersion || !isRecord(stored.plan)) return null;
  const plan = stored.plan;
  if (plan.kind !== 'QueryPlan') return null;
  const fetches: FetchNode[] = [];
  if (plan.node !== undefined && !isPlanNode(plan.node, fetches, true)) return null;
  if (withDocuments) fetches.forEach(documentOnDemand);
  return plan as unknown as QueryPlan;
}

/** Every node's kind and the fields an executor walks, checked, collecting the fetches on the way. */
function isPlanNode(node: unknown, fetches: FetchNode[], root = false): node is PlanNode | SubscriptionNode {
  if (!isRecord(node)) return false;
  switch (node.kind) {
    case 'Fetch':
      if (
        typeof node.serviceName !== 'string' ||
        typeof node.operation !== 'string' ||
        typeof node.operationKind !== 'string' ||
        !optionalStrings(node.variableUsages)
      )
        return false;
      fetches.push(node as unknown as FetchNode);
      return true;
    case 'Sequence':
    case 'Parallel':
      return Array.isArray(node.nodes) && node.nodes.every((child) => isPlanNode(child, fetches));
    case 'Flatten':
      return Array.isArray(node.path) && isPlanNode(node.node, fetches);
    case 'Condition':
      return (
        typeof node.condition === 'string' &&
        optionalNode(node.ifClause, fetches) &&
        optionalNode(node.elseClause, fetches)
      );
    case 'Defer':
      return (
        isRecord(node.primary) &&
        optionalNode(node.primary.node, fetches) &&
        Array.isArray(node.deferred) &&
        node.deferred.every(
          (deferred) =>
            isRecord(deferred) &&
            Array.isArray(deferred.depends) &&
            Array.isArray(deferred.queryPath) &&
            optionalNode(deferred.node, fetches),
        )
      );
    case 'Subscription':
      // Only a plan's root may be a subscription, and its primary must be a fetch.
      return (
        root &&
        isRecord(node.primary) &&
        node.primary.kind === 'Fetch' &&
        isPlanNode(node.primary, fetches) &&
        optionalNode(node.rest, fetches)
      );
    default:
      return false;
  }
}

function optionalNode(node: unknown, fetches: FetchNode[]): boolean {
  return node === undefined || isPlanNode(node, fetches);
}

function optionalStrings(value: unknown): boolean {
  return value === undefined || (Array.isArray(value) && value.every((item) => typeof item === 'string'));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parsed on first read and kept: most executions never look at the
 * document (they send `operation`), so most plans read back never parse it.
 */
function documentOnDemand(fetch: FetchNode): void {
  let document: DocumentNode | undefined;
  Object.defineProperty(fetch, 'operationDocumentNode', {
    enumerable: true,
    configurable: true,
    get: () => (document ??= parse(fetch.operation, { noLocation: true })),
    set: (value: DocumentNode | undefined) => {
      document = value;
    },
  });
}
