import type { GatewayExecutionResult } from '@apollo/server-gateway-interface';
import {
  GraphQLError,
  isAbstractType,
  isInterfaceType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
} from 'graphql';
import Negotiator from 'negotiator';
import { startPlan, type ExecutePlanOptions, type RunningPlan } from '../execute-plan.ts';
import { introspect } from '../introspection.ts';
import { shapeObject, shapeResponse, type ShapeObjectInput } from '../shape.ts';
import type { DeferredFragment, DeferredOperation } from './operation.ts';

export { deferredOperation, withoutDefer, type DeferredOperation } from './operation.ts';

/**
 * The incremental delivery formats a client can ask for:
 * - `legacy`: `multipart/mixed; deferSpec=20220824`, what Apollo Client
 *   speaks: each later payload is `{ incremental: [{ data, path, label }] }`;
 * - `current`: `multipart/mixed; incrementalSpec=v0.2`, the GraphQL
 *   working group's format: the first payload announces `pending`
 *   fragments by id, later ones carry `incremental` data and `completed`.
 */
export type IncrementalFormat = 'legacy' | 'current';

const multipartMediaType = 'multipart/mixed';
const legacyMediaType = 'multipart/mixed; deferSpec=20220824';
const currentMediaType = 'multipart/mixed; incrementalSpec=v0.2';

/**
 * The format a request's `Accept` asks for, or null: answer it whole.
 * Negotiated exactly as Apollo Server negotiates the response it writes
 * (plain `multipart/mixed` preferred means neither format), so the two
 * always agree; a request Apollo Server would refuse a stream is answered
 * whole instead.
 */
export function incrementalFormatOf(accept: string | undefined): IncrementalFormat | null {
  if (!accept?.includes(multipartMediaType)) return null;
  const preferred = new Negotiator({ headers: { accept } }).mediaType([
    multipartMediaType,
    currentMediaType,
    legacyMediaType,
  ]);
  return preferred === legacyMediaType ? 'legacy' : preferred === currentMediaType ? 'current' : null;
}

type JsonObject = Record<string, unknown>;
type Path = Array<string | number>;
type Payload = JsonObject & { hasNext: boolean };

interface Pending {
  id: string;
  path: Path;
  label?: string;
}

/** What Apollo Server (patched, see patches/) takes from a gateway for an incremental response. */
export interface IncrementalExecutionResult {
  initialResult: Payload;
  subsequentResults: AsyncGenerator<Payload, void, void>;
}

/** One object a deferred fragment applies to, shaped, and the errors that are its own. */
interface Instance {
  path: Path;
  /** Null: an error in the fragment nulled a non-null field, and the fragment's data with it. */
  data: JsonObject | null;
  errors: GraphQLError[];
}

/**
 * Runs a deferred plan and answers it in parts: the first payload as soon
 * as the plan's primary part has its data, each deferred fragment once
 * the fetches of its own part have answered (a fragment inside another
 * never before its parent).
 *
 * A fragment gets a part for each object at its path that the client
 * holds by then (in the first payload or its parent fragment's part) and
 * that its type condition applies to; each object is shaped by the
 * fragment's selection alone, so a null in one of its non-null fields
 * nulls that part's data and goes no higher. An error goes out with the
 * part whose fields it is in; any other (no path, or a path no part
 * claims) with the next part to go out, and at the latest with the last.
 *
 * A plan without a Defer node (the planner found nothing to defer), or a
 * first payload whose data is null, is answered whole.
 */
export async function executeIncrementally(
  options: ExecutePlanOptions & { variables: Record<string, unknown> },
  deferred: DeferredOperation,
  format: IncrementalFormat,
): Promise<GatewayExecutionResult | IncrementalExecutionResult> {
  const { apiSchema: schema, variables } = options;
  let primaryReady = () => {};
  const primary = new Promise<'primary'>((resolve) => (primaryReady = () => resolve('primary')));
  const ready: string[] = [];
  let wake = () => {};
  const running: RunningPlan = startPlan(options, (label) => {
    if (label === null) return primaryReady();
    ready.push(label);
    wake();
  });
  const outcome: { finished: boolean; failure: { error: unknown } | null } = { finished: false, failure: null };
  const settled = running.done.then(
    () => void (outcome.finished = true),
    (error: unknown) => {
      outcome.failure = { error };
      outcome.finished = true;
    },
  );
  void settled.then(() => wake());
  const first = await Promise.race([primary, settled.then(() => 'finished' as const)]);
  if (outcome.failure) throw outcome.failure.error;

  const sent = new Set<GraphQLError>();
  const unsent = () => running.errors.filter((error) => !sent.has(error));
  const initial = shapeResponse({
    schema,
    operation: deferred.primary,
    fragments: {},
    variables,
    data: running.data,
    errors: unsent(),
  });
  const introspection = introspect({ schema, operation: deferred.primary, fragments: {}, variables });
  if (introspection && initial.data) {
    Object.assign(initial.data, introspection.data);
    initial.errors.push(...introspection.errors);
  }
  if (first === 'finished' || initial.data === null) {
    // Nothing left to stream: every fragment's data is in the tree, or the client holds no object to add it to.
    await settled;
    const failed = outcome.failure as { error: unknown } | null;
    if (failed) throw failed.error;
    return wholeAnswer(options, running);
  }
  for (const error of initial.errors) sent.add(error);

  // What the client holds so far: deferred parts are found where it has objects.
  const delivered: JsonObject = structuredClone(initial.data);
  // The `current` format names each fragment's objects by id, announced before their data.
  const ids = new Map<string, string>();
  const announce = (fragment: DeferredFragment, path: Path, into: Pending[]) => {
    const key = `${fragment.routerLabel}\u0000${JSON.stringify(path)}`;
    let id = ids.get(key);
    if (id === undefined) {
      ids.set(key, (id = String(ids.size)));
      into.push({ id, path, ...(fragment.label !== undefined ? { label: fragment.label } : {}) });
    }
    return id;
  };
  const childrenOf = (parent: string | null) =>
    [...deferred.fragments.values()].filter((fragment) => fragment.parent === parent);

  /** The objects at the fragment's path the client holds, that its type condition applies to. */
  const targetsOf = (
    fragment: DeferredFragment,
  ): Array<{ path: Path; raw: JsonObject; type: ShapeObjectInput['type'] }> =>
    objectPathsAt(delivered, fragment.path).flatMap((path) => {
      const raw = valueAt(running.data, path);
      if (!isObject(raw)) return [];
      const type = runtimeTypeOf(schema, raw, fragment);
      return type ? [{ path, raw, type }] : [];
    });

  const announceChildren = (parent: string | null, into: Pending[]) => {
    if (format !== 'current') return;
    for (const child of childrenOf(parent)) for (const { path } of targetsOf(child)) announce(child, path, into);
  };
  const initialPending: Pending[] = [];
  announceChildren(null, initialPending);
  const initialResult: Payload = {
    data: initial.data,
    ...(initial.errors.length > 0 ? { errors: initial.errors } : {}),
    ...(format === 'current' ? { pending: initialPending } : {}),
    hasNext: true,
  };

  /** The fragment's parts, each with its own errors; errors none claims go to the first part. */
  const instancesOf = (fragment: DeferredFragment): Instance[] => {
    const instances: Instance[] = [];
    const errors = unsent();
    for (const { path, raw, type } of targetsOf(fragment)) {
      const shaped = shapeObject({
        schema,
        type,
        selectionSet: fragment.selectionSet,
        variables,
        data: raw,
        path,
        errors,
      });
      const own = errors.filter(
        (error) => error.path && !sent.has(error) && isOwnError(error.path, path, fragment.keys),
      );
      for (const error of [...own, ...shaped.errors]) sent.add(error);
      instances.push({ path, data: shaped.data, errors: [...own, ...shaped.errors] });
      if (shaped.data) mergeDelivered(delivered, path, shaped.data);
    }
    return instances;
  };

  async function* subsequentResults(): AsyncGenerator<Payload, void, void> {
    const done = new Set<string>();
    const remaining = new Set(deferred.fragments.keys());
    // Heard of as complete and not sent yet: a fragment waits here for its parent to go out.
    const heard = new Set<string>();
    while (remaining.size > 0) {
      if (ready.length === 0 && !outcome.finished) await new Promise<void>((resolve) => (wake = resolve));
      wake = () => {};
      for (const label of ready.splice(0)) if (remaining.has(label)) heard.add(label);
      // Once the plan has run (or failed), whatever has not been heard of is as complete as it will be.
      if (outcome.finished) for (const label of remaining) heard.add(label);
      const payload: PayloadParts = { incremental: [], completed: [], pending: [] };
      // Parents first, in as many passes as the nesting is deep.
      for (let progressed = true; progressed;) {
        progressed = false;
        for (const label of heard) {
          const fragment = deferred.fragments.get(label)!;
          if (fragment.parent !== null && !done.has(fragment.parent)) continue;
          heard.delete(label);
          remaining.delete(label);
          done.add(label);
          progressed = true;
          addFragment(fragment, payload);
        }
      }
      const hasNext = remaining.size > 0;
      const leftover = [
        ...(outcome.failure ? [asGraphQLError(outcome.failure.error)] : []),
        ...unsent().filter((error) => !error.path || !hasNext),
      ];
      if (leftover.length > 0) {
        for (const error of leftover) sent.add(error);
        addLeftoverErrors(payload, leftover);
      }
      if (!hasNext || payload.incremental.length > 0 || payload.completed.length > 0)
        yield format === 'current'
          ? {
              ...(payload.pending.length > 0 ? { pending: payload.pending } : {}),
              ...(payload.incremental.length > 0 ? { incremental: payload.incremental } : {}),
              ...(payload.completed.length > 0 ? { completed: payload.completed } : {}),
              hasNext,
            }
          : { ...(payload.incremental.length > 0 ? { incremental: payload.incremental } : {}), hasNext };
    }
  }

  function addFragment(fragment: DeferredFragment, payload: PayloadParts) {
    const instances = instancesOf(fragment);
    if (format === 'legacy') {
      for (const { path, data, errors } of instances)
        payload.incremental.push({
          data,
          path,
          ...(fragment.label !== undefined ? { label: fragment.label } : {}),
          ...(errors.length > 0 ? { errors } : {}),
        });
      return;
    }
    for (const { path, data, errors } of instances) {
      const id = announce(fragment, path, payload.pending);
      // Data nulled by an error in the fragment: the fragment completes with the error and no data.
      if (data === null) payload.completed.push({ id, errors });
      else {
        payload.incremental.push({ id, data, ...(errors.length > 0 ? { errors } : {}) });
        payload.completed.push({ id });
      }
    }
    announceChildren(fragment.routerLabel, payload.pending);
  }

  /** Errors no part claimed: on the payload's last part, or on a part of their own. */
  function addLeftoverErrors(payload: PayloadParts, errors: GraphQLError[]) {
    const holder = format === 'current' ? payload.completed.at(-1) : payload.incremental.at(-1);
    if (holder) holder.errors = [...((holder.errors as GraphQLError[] | undefined) ?? []), ...errors];
    else if (format === 'current')
      payload.completed.push({ id: announce(leftoverFragment, [], payload.pending), errors });
    else payload.incremental.push({ path: [], errors });
  }

  return { initialResult, subsequentResults: subsequentResults() };
}

interface PayloadParts {
  incremental: JsonObject[];
  completed: JsonObject[];
  pending: Pending[];
}

/** What errors no fragment's object claims are announced under, in the current format. */
const leftoverFragment = { routerLabel: '', label: undefined } as DeferredFragment;

/** The whole operation as one answer, from a tree that holds every part's data. */
function wholeAnswer(options: ExecutePlanOptions & { variables: Record<string, unknown> }, running: RunningPlan) {
  const { apiSchema: schema, variables, requestContext } = options;
  const fragments = fragmentsOf(requestContext.document);
  const whole = shapeResponse({
    schema,
    operation: requestContext.operation,
    fragments,
    variables,
    data: running.data,
    errors: running.errors,
  });
  const introspection = introspect({ schema, operation: requestContext.operation, fragments, variables });
  if (introspection && whole.data) {
    Object.assign(whole.data, introspection.data);
    whole.errors.push(...introspection.errors);
  }
  return whole.errors.length > 0 ? { data: whole.data, errors: whole.errors } : { data: whole.data };
}

function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  return fragments;
}

/**
 * The type to shape an object of a fragment as: the runtime type its raw
 * `__typename` names, when the fragment's type condition applies to it;
 * without one, the condition's (or the path's) type, if fields can be read
 * on it. Undefined: the fragment does not apply to this object.
 */
function runtimeTypeOf(
  schema: GraphQLSchema,
  raw: JsonObject,
  fragment: DeferredFragment,
): ShapeObjectInput['type'] | undefined {
  const condition = fragment.typeCondition;
  const typename = raw.__typename;
  const runtime = typeof typename === 'string' ? schema.getType(typename) : undefined;
  if (isObjectType(runtime)) {
    if (!condition) return runtime;
    const applies = condition === runtime || (isAbstractType(condition) && schema.isSubType(condition, runtime));
    return applies ? runtime : undefined;
  }
  const declared = condition ?? fragment.parentType;
  return isObjectType(declared) || isInterfaceType(declared) ? declared : undefined;
}

/** Below one of the fragment's objects, and in a field the fragment selects there (or at the object itself). */
function isOwnError(errorPath: readonly (string | number)[], path: Path, keys: ReadonlySet<string>): boolean {
  if (errorPath.length < path.length) return false;
  for (let i = 0; i < path.length; i++) if (errorPath[i] !== path[i]) return false;
  if (errorPath.length === path.length) return true;
  const key = errorPath[path.length];
  return typeof key === 'string' && keys.has(key);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(data: unknown, path: Path): unknown {
  let value = data;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** The paths of the objects at `keys` below `data`, lists stepped into. */
function objectPathsAt(data: unknown, keys: readonly string[]): Path[] {
  const out: Path[] = [];
  const walk = (value: unknown, depth: number, path: Path) => {
    if (Array.isArray(value)) {
      value.forEach((element, index) => walk(element, depth, [...path, index]));
      return;
    }
    if (!isObject(value)) return;
    if (depth === keys.length) out.push(path);
    else walk(value[keys[depth]!], depth + 1, [...path, keys[depth]!]);
  };
  walk(data, 0, []);
  return out;
}

/** Adds a part's data to what the client holds, as the client merges it. */
function mergeDelivered(delivered: JsonObject, path: Path, data: JsonObject) {
  const target = valueAt(delivered, path);
  if (isObject(target)) deepMerge(target, structuredClone(data));
}

function deepMerge(target: JsonObject, source: JsonObject) {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isObject(existing) && isObject(value)) deepMerge(existing, value);
    else if (Array.isArray(existing) && Array.isArray(value) && existing.length === value.length)
      value.forEach((element, index) => {
        if (isObject(existing[index]) && isObject(element)) deepMerge(existing[index] as JsonObject, element);
        else existing[index] = element;
      });
    else target[key] = value;
  }
}

function asGraphQLError(error: unknown): GraphQLError {
  return error instanceof GraphQLError
    ? error
    : new GraphQLError(error instanceof Error ? error.message : String(error), {
        originalError: error instanceof Error ? error : undefined,
      });
}
