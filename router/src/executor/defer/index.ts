import type { GatewayExecutionResult } from '@apollo/server-gateway-interface';
import type { FragmentDefinitionNode, GraphQLError } from 'graphql';
import Negotiator from 'negotiator';
import { startPlan, type ExecutePlanOptions, type RunningPlan } from '../execute-plan.ts';
import { introspect } from '../introspection.ts';
import { shapeResponse } from '../shape.ts';
import type { DeferredFragment, DeferredOperation } from './operation.ts';

export { deferredOperation, type DeferredOperation } from './operation.ts';

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

interface Pending {
  id: string;
  path: Path;
  label?: string;
}

/** What Apollo Server (patched, see patches/) takes from a gateway for an incremental response. */
export interface IncrementalExecutionResult {
  initialResult: JsonObject & { hasNext: boolean };
  subsequentResults: AsyncGenerator<JsonObject & { hasNext: boolean }, void, void>;
}

/** One object a deferred fragment applies to, shaped, and the errors that are its own. */
interface Instance {
  path: Path;
  data: JsonObject | null;
  errors: GraphQLError[];
}

/**
 * Runs a deferred plan and answers it in parts: the first payload as soon
 * as the plan's primary part has its data, each deferred fragment once
 * the fetches of its own part have answered (a fragment inside another
 * never before its parent). Each part is shaped from the one response tree
 * by an operation holding that part alone (./operation.ts). An error goes
 * out with the part whose fields it is in; an error with no path, with
 * the next part to go out.
 *
 * A plan without a Defer node (the planner found nothing worth deferring)
 * is answered whole.
 */
export async function executeIncrementally(
  options: ExecutePlanOptions & { variables: Record<string, unknown> },
  deferred: DeferredOperation,
  format: IncrementalFormat,
): Promise<GatewayExecutionResult | IncrementalExecutionResult> {
  const { apiSchema, variables } = options;
  let primaryReady = () => {};
  const primary = new Promise<'primary'>((resolve) => (primaryReady = () => resolve('primary')));
  const ready: string[] = [];
  let wake: (() => void) | null = null;
  const running: RunningPlan = startPlan(options, (label) => {
    if (label === null) return primaryReady();
    ready.push(label);
    wake?.();
  });
  let finished = false;
  let failure: { error: unknown } | null = null;
  const settled = running.done.then(
    () => void (finished = true),
    (error: unknown) => {
      failure = { error };
      finished = true;
    },
  );
  void settled.then(() => wake?.());
  const first = await Promise.race([primary, settled.then(() => 'finished' as const)]);
  if (failure) throw (failure as { error: unknown }).error;

  const sent = new Set<GraphQLError>();
  const shapeWith = (operation: DeferredFragment['operation']) => {
    const unsent = running.errors.filter((error) => !sent.has(error));
    return shapeResponse({
      schema: apiSchema,
      operation,
      fragments: {},
      variables,
      data: running.data,
      errors: unsent,
    });
  };

  const initial = shapeWith(deferred.primary);
  const introspection = introspect({ schema: apiSchema, operation: deferred.primary, fragments: {}, variables });
  if (introspection && initial.data) {
    Object.assign(initial.data, introspection.data);
    initial.errors.push(...introspection.errors);
  }
  for (const error of initial.errors) sent.add(error);
  if (first === 'finished') {
    // No Defer node ran: every fragment's data is in the tree already, so the whole operation is one payload.
    const whole = shapeResponse({
      schema: apiSchema,
      operation: options.requestContext.operation,
      fragments: fragmentsOf(options),
      variables,
      data: running.data,
      errors: running.errors,
    });
    return whole.errors.length > 0 ? { data: whole.data, errors: whole.errors } : { data: whole.data };
  }

  // The `current` format names each fragment's objects by id, announced before their data.
  const ids = new Map<string, string>();
  let nextId = 0;
  const announce = (fragment: DeferredFragment, path: Path, into: Pending[]) => {
    const key = `${fragment.routerLabel}\u0000${JSON.stringify(path)}`;
    let id = ids.get(key);
    if (id === undefined) {
      ids.set(key, (id = String(nextId++)));
      into.push({ id, path, ...(fragment.label !== undefined ? { label: fragment.label } : {}) });
    }
    return id;
  };
  const childrenOf = (parent: string | null) =>
    [...deferred.fragments.values()].filter((fragment) => fragment.parent === parent);

  const initialPending: Pending[] = [];
  if (format === 'current')
    for (const fragment of childrenOf(null))
      for (const path of objectPathsAt(initial.data, fragment.path)) announce(fragment, path, initialPending);
  const initialResult: JsonObject & { hasNext: boolean } = {
    data: initial.data,
    ...(initial.errors.length > 0 ? { errors: initial.errors } : {}),
    ...(format === 'current' ? { pending: initialPending } : {}),
    hasNext: deferred.fragments.size > 0,
  };

  /** A fragment's objects, shaped, each with its own errors; the errors no object claims go to the first. */
  const instancesOf = (fragment: DeferredFragment): { instances: Instance[]; shapedData: JsonObject | null } => {
    const shaped = shapeWith(fragment.operation);
    const instances: Instance[] = objectsAt(shaped.data, fragment.path).map(({ path, data }) => ({
      path,
      data,
      errors: [],
    }));
    const pathless: GraphQLError[] = [];
    for (const error of shaped.errors) {
      if (sent.has(error)) continue;
      if (!error.path) {
        pathless.push(error);
        continue;
      }
      const owner = instances.find(({ path }) => isOwnError(error.path!, path, fragment.keys));
      if (owner) {
        owner.errors.push(error);
        sent.add(error);
      }
    }
    if (instances.length > 0 && pathless.length > 0) {
      instances[0]!.errors.push(...pathless);
      for (const error of pathless) sent.add(error);
    }
    return {
      // An object the fragment's type condition left empty has nothing to send.
      instances: instances.filter(({ data, errors }) => errors.length > 0 || (data && Object.keys(data).length > 0)),
      shapedData: shaped.data,
    };
  };

  async function* subsequentResults(): AsyncGenerator<JsonObject & { hasNext: boolean }, void, void> {
    const done = new Set<string>();
    const remaining = new Set(deferred.fragments.keys());
    // Heard of as complete and not sent yet: a fragment waits here for its parent to go out.
    const heard = new Set<string>();
    while (remaining.size > 0) {
      if (ready.length === 0 && !finished) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      if (failure) throw (failure as { error: unknown }).error;
      for (const label of ready.splice(0)) if (remaining.has(label)) heard.add(label);
      // Once the plan has run, whatever has not been heard of is as complete as it will be.
      if (finished) for (const label of remaining) heard.add(label);
      const payload = { incremental: [] as JsonObject[], completed: [] as JsonObject[], pending: [] as Pending[] };
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

  function addFragment(
    fragment: DeferredFragment,
    payload: { incremental: JsonObject[]; completed: JsonObject[]; pending: Pending[] },
  ) {
    const { instances, shapedData } = instancesOf(fragment);
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
    const completedIds = new Set<string>();
    for (const { path, data, errors } of instances) {
      const id = announce(fragment, path, payload.pending);
      completedIds.add(id);
      // Data nulled by an error in the fragment: the fragment completes with the error and no data.
      if (data === null) payload.completed.push({ id, errors });
      else {
        payload.incremental.push({ id, data, ...(errors.length > 0 ? { errors } : {}) });
        payload.completed.push({ id });
      }
    }
    // Announced objects the fragment did not apply to complete empty.
    for (const [key, id] of ids)
      if (key.startsWith(`${fragment.routerLabel}\u0000`) && !completedIds.has(id)) payload.completed.push({ id });
    for (const child of childrenOf(fragment.routerLabel))
      for (const path of objectPathsAt(shapedData, child.path)) announce(child, path, payload.pending);
  }

  return { initialResult, subsequentResults: subsequentResults() };
}

function fragmentsOf({ requestContext }: ExecutePlanOptions) {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of requestContext.document.definitions)
    if (definition.kind === 'FragmentDefinition') fragments[definition.name.value] = definition;
  return fragments;
}

/** Below one of the fragment's objects, and in a field the fragment selects there (or at the object itself). */
function isOwnError(errorPath: readonly (string | number)[], path: Path, keys: ReadonlySet<string>): boolean {
  if (errorPath.length < path.length) return false;
  for (let i = 0; i < path.length; i++) if (errorPath[i] !== path[i]) return false;
  if (errorPath.length === path.length) return true;
  const key = errorPath[path.length];
  return typeof key === 'string' && keys.has(key);
}

/** The objects (and nulls) at `keys` below `data`, lists stepped into, each with its concrete path. */
function objectsAt(data: JsonObject | null, keys: readonly string[]): Array<{ path: Path; data: JsonObject | null }> {
  const out: Array<{ path: Path; data: JsonObject | null }> = [];
  const walk = (value: unknown, depth: number, path: Path) => {
    if (Array.isArray(value)) {
      value.forEach((element, index) => walk(element, depth, [...path, index]));
      return;
    }
    if (depth === keys.length) {
      if (value === null) out.push({ path, data: null });
      else if (typeof value === 'object' && value !== undefined) out.push({ path, data: value as JsonObject });
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const key = keys[depth]!;
    walk((value as JsonObject)[key], depth + 1, [...path, key]);
  };
  walk(data, 0, []);
  return out;
}

/** The paths of the objects (not nulls) at `keys` below `data`. */
function objectPathsAt(data: JsonObject | null, keys: readonly string[]): Path[] {
  return objectsAt(data, keys)
    .filter(({ data: value }) => value !== null)
    .map(({ path }) => path);
}
