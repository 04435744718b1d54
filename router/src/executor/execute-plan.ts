import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type {
  ConditionNode,
  DeferNode,
  FetchDataRewrite,
  FetchDataKeyRenamer,
  FetchNode,
  PlanNode,
  QueryPlan,
  QueryPlanSelectionNode,
  ResponsePath,
} from '@apollo/query-planner';
import type {
  GatewayExecutionResult,
  GatewayGraphQLRequestContext,
  GatewayGraphQLResponse,
} from '@apollo/server-gateway-interface';
import {
  GraphQLError,
  isAbstractType,
  isNonNullType,
  isObjectType,
  Kind,
  valueFromASTUntyped,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { inChildSpan } from '../../../platform/src/tracing.ts';
import { correctedPlan } from './corrected-plan.ts';
import { documentOf } from './fetch-documents.ts';
import { introspect } from './introspection.ts';
import { scheduleOf, type FetchSchedule } from './schedule.ts';
import { shapeResponse } from './shape.ts';

/** Codes of the errors the executor raises itself. */
export enum ExecutorErrorCode {
  /** The plan has a node this executor does not run (a subscription's). */
  UnsupportedQueryPlanNode = 'UNSUPPORTED_QUERY_PLAN_NODE',
  /** A subgraph answered, but not with what the plan asked for (an `_entities` list of the wrong length). */
  DownstreamServiceError = 'DOWNSTREAM_SERVICE_ERROR',
}

type JsonObject = Record<string, unknown>;

export interface ExecutePlanOptions {
  plan: QueryPlan;
  /**
   * The API schema the response is shaped by. Not the request context's:
   * Apollo Server instruments that one's resolvers for its plugins.
   */
  apiSchema: GraphQLSchema;
  /**
   * The supergraph's schema, for the type conditions of `requires` and of
   * rewrite paths: they may name types the API schema hides.
   */
  supergraphSchema: GraphQLSchema;
  /** The request as Apollo Server hands it to a gateway: document, variables, context, cache policy. */
  requestContext: GatewayGraphQLRequestContext;
  /** The data source of a subgraph, by the name the plan's fetches use. */
  dataSource: (subgraphName: string) => GraphQLDataSource;
  /** The request's variables coerced by the operation (defaults applied). Default: the request's as sent. */
  variables?: Record<string, unknown>;
}

/**
 * Runs a query plan and shapes its result for the client: the plan's
 * fetches fill one response tree in place, and one pass over the operation
 * then keeps what the client asked for, in its order, with its nullability.
 */
export async function executePlan(options: ExecutePlanOptions): Promise<GatewayExecutionResult> {
  const { requestContext, apiSchema } = options;
  const { data, errors } = await fetchPlan(options);
  const operation = requestContext.operation;
  const fragments = fragmentsOf(requestContext.document);
  const variables = options.variables ?? requestContext.request.variables ?? {};
  const introspection = introspect({ schema: apiSchema, operation, fragments, variables });
  if (introspection) {
    Object.assign(data, introspection.data);
    errors.push(...introspection.errors);
  }
  const shaped = shapeResponse({ schema: apiSchema, operation, fragments, variables, data, errors });
  return shaped.errors.length > 0 ? { data: shaped.data, errors: shaped.errors } : { data: shaped.data };
}

/**
 * The fragments of a document by name, once per document: Apollo Server
 * hands the same DocumentNode for the same query text, and shaping keeps
 * its compiled plan per operation node, so the record is built once too.
 */
const fragmentsByDocument = new WeakMap<DocumentNode, Record<string, FragmentDefinitionNode>>();

function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  let fragments = fragmentsByDocument.get(document);
  if (!fragments) {
    fragments = {};
    for (const definition of document.definitions)
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
    fragmentsByDocument.set(document, fragments);
  }
  return fragments;
}

/** The merged response tree of a plan, before shaping, and the errors its fetches met. */
export interface FetchedPlan {
  data: JsonObject;
  errors: GraphQLError[];
}

/**
 * Runs the plan's fetches in waves: every fetch whose inputs are ready is
 * sent in the same turn, so the fetches of one wave to one subgraph leave
 * as one request (SubgraphFetch merges a request's same-turn queries, and
 * fetches here that differ only in their entities become one `_entities`
 * fetch), even when they sit in different branches of a Parallel. The
 * next wave starts when the whole wave has answered. Waiting for the
 * slowest of a wave costs latency when subgraphs differ a lot in speed,
 * and saves a request for every subgraph that two branches need next. A
 * fetch nothing waits for may be held for a later wave that asks its
 * subgraph anyway (./schedule.ts), which saves another.
 */
export async function fetchPlan(options: ExecutePlanOptions): Promise<FetchedPlan> {
  const running = startPlan(options);
  await running.done;
  return running;
}

/** A plan whose fetches are under way: `data` and `errors` fill in as they answer, until `done`. */
export interface RunningPlan extends FetchedPlan {
  done: Promise<void>;
}

/**
 * Called when a part of a deferred plan has all its data in the tree:
 * `null` for the part the first payload holds, else the router's label of
 * the deferred fragment (./defer/operation.ts).
 */
export type PartReady = (label: string | null) => void;

/** Starts the plan's fetches; `ready` hears of each part of a deferred plan as it completes. */
export function startPlan(
  { plan, supergraphSchema, requestContext, dataSource }: ExecutePlanOptions,
  ready: PartReady | null = null,
  /** The tree the fetches fill in: empty, or a subscription event's data that the rest of its plan completes. */
  data: JsonObject = {},
): RunningPlan {
  if (!plan.node) return { data, errors: [], done: Promise.resolve() };
  if (plan.node.kind === 'Subscription') throw unsupported('Subscription');
  // Corrected plans are cached per plan, so their schedules are too.
  const corrected = correctedPlan(plan, {
    supergraphSchema,
    operation: requestContext.operation as OperationDefinitionNode | undefined,
    fragments: requestContext.document ? fragmentsOf(requestContext.document) : {},
  });
  const node = corrected.node;
  const run = new PlanRun(supergraphSchema, requestContext, dataSource, scheduleOf(corrected), ready);
  let finished = false;
  let failure: { error: unknown } | null = null;
  const root: Place = { value: data, up: null, keys: [] };
  const all = run.node(node as PlanNode, [root]).then(
    () => void (finished = true),
    (error: unknown) => {
      failure = { error };
      finished = true;
    },
  );
  const drive = async () => {
    // The first wave is queued by now: every branch runs synchronously up to its first fetch.
    for (let wave = 0; !finished && run.queue.length > 0; wave++) {
      let sent = run.queue.filter((job) => job.notBefore <= wave);
      // Only held fetches are left, and nothing is running that could queue more: their wave will not come.
      if (sent.length === 0) sent = run.queue;
      run.queue = sent.length === run.queue.length ? [] : run.queue.filter((job) => !sent.includes(job));
      await run.dispatch(sent);
      // The fetches that the answers unblock are queued from microtasks; a
      // macrotask turn later they all are, and nothing else is running.
      if (!finished) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await all;
    if (failure) throw (failure as { error: unknown }).error;
  };
  return { data, errors: run.errors, done: drive() };
}

/**
 * An object of the response tree and how it was reached: its parent object
 * (`..` in a context path) and the keys from that parent to it, list
 * indices included, which make its path in the response for errors.
 */
interface Place {
  value: JsonObject;
  up: Place | null;
  keys: ReadonlyArray<string | number>;
}

interface Job {
  fetch: FetchNode;
  places: Place[];
  /** The first wave it may be sent in (./schedule.ts). */
  notBefore: number;
  done(): void;
}

/** One `_entities` fetch of a wave: every job's entities for the same operation and variables, each sent once. */
interface EntityBatch {
  fetch: FetchNode;
  variables: JsonObject;
  representations: JsonObject[];
  /** By representation text: its index in `representations`. */
  indexOf: Map<string, number>;
  /** By representation index: every place it came from. */
  targets: Place[][];
  /** The jobs whose entities it holds. */
  jobs: Set<Job>;
}

/** Per plan node, what makes its `_entities` fetches the same as another's; see `batchKeyOf`. */
const batchKeys = new WeakMap<FetchNode, string>();

/**
 * Two entity fetches of a wave can be sent as one when they go to the same
 * subgraph with the same selection and read the answer the same way. The
 * planner names each fetch's operation apart (`Op__inventory__1`,
 * `Op__inventory__2`), so the name is left out: two branches asking the
 * same fields of their entities differ only by it.
 */
function batchKeyOf(fetch: FetchNode): string {
  let key = batchKeys.get(fetch);
  if (key === undefined) {
    const unnamed = fetch.operation.replace(/^(query|mutation|subscription)\s+[_A-Za-z][_0-9A-Za-z]*/, '$1');
    key = `${fetch.serviceName}\u0000${unnamed}\u0000${JSON.stringify(fetch.outputRewrites ?? null)}`;
    batchKeys.set(fetch, key);
  }
  return key;
}

class PlanRun {
  readonly errors: GraphQLError[] = [];
  queue: Job[] = [];
  private readonly variables: JsonObject;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly requestContext: GatewayGraphQLRequestContext,
    private readonly dataSource: (subgraphName: string) => GraphQLDataSource,
    private readonly schedule: FetchSchedule,
    private readonly ready: PartReady | null,
  ) {
    this.variables = requestContext.request.variables ?? {};
  }

  async node(node: PlanNode, places: Place[]): Promise<void> {
    switch (node.kind) {
      case 'Sequence':
        for (const child of node.nodes) await this.node(child, places);
        return;
      case 'Parallel':
        await Promise.all(node.nodes.map((child) => this.node(child, places)));
        return;
      case 'Flatten': {
        const inner: Place[] = [];
        for (const place of places) descend(place.value, place.up, place.keys, node.path, 0, inner);
        if (inner.length > 0) await this.node(node.node, inner);
        return;
      }
      case 'Fetch':
        await new Promise<void>((done) =>
          this.queue.push({ fetch: node, places, notBefore: this.schedule.notBefore.get(node) ?? 0, done }),
        );
        return;
      case 'Condition': {
        const branch = this.condition(node) ? node.ifClause : node.elseClause;
        if (branch) await this.node(branch, places);
        return;
      }
      case 'Defer':
        return this.defer(node, places, null);
      default:
        return exhaustive(node);
    }
  }

  /**
   * A Defer node: its primary part, then, once that part's data is in,
   * each deferred part side by side. `owner` is the deferred fragment the
   * primary part completes (a fragment deferred inside another is planned
   * as a Defer node of its own); null: the first payload.
   */
  private async defer(node: DeferNode, places: Place[], owner: string | null): Promise<void> {
    if (node.primary.node) await this.node(node.primary.node, places);
    this.ready?.(owner);
    await Promise.all(
      node.deferred.map(async (deferred) => {
        const label = deferred.label ?? null;
        if (deferred.node?.kind === 'Defer') return this.defer(deferred.node, places, label);
        if (deferred.node) await this.node(deferred.node, places);
        this.ready?.(label);
      }),
    );
  }

  /** Sends a wave: root fetches as they are, entity fetches batched by operation and variables. */
  async dispatch(jobs: Job[]): Promise<void> {
    const sends: Array<Promise<void>> = [];
    const batches = new Map<string, EntityBatch>();
    for (const job of jobs) {
      if (job.fetch.requires) this.collectEntities(job, batches);
      else sends.push(this.sendRoot(job).then(job.done));
    }
    // A job is done once every batch holding its entities has answered, not
    // when the whole wave has: what waits on it (a deferred fragment's
    // payload) goes out then. The next wave still starts after the whole one.
    const batchesLeft = new Map<Job, number>();
    for (const batch of batches.values())
      for (const job of batch.jobs) batchesLeft.set(job, (batchesLeft.get(job) ?? 0) + 1);
    for (const job of jobs) if (job.fetch.requires && !batchesLeft.has(job)) job.done();
    for (const batch of batches.values())
      sends.push(
        this.sendEntities(batch).then(() => {
          for (const job of batch.jobs) {
            const left = batchesLeft.get(job)! - 1;
            batchesLeft.set(job, left);
            if (left === 0) job.done();
          }
        }),
      );
    await Promise.all(sends);
  }

  private condition(node: ConditionNode): boolean {
    let value = this.variables[node.condition];
    if (value === undefined) {
      const definition = this.requestContext.operation.variableDefinitions?.find(
        (candidate) => candidate.variable.name.value === node.condition,
      );
      value = definition?.defaultValue ? valueFromASTUntyped(definition.defaultValue) : undefined;
    }
    // Validation made it a Boolean!; only @skip(if: $v) with a defaulted nullable variable could leave it null.
    return value === true;
  }

  private variablesFor(fetch: FetchNode): JsonObject {
    const variables: JsonObject = {};
    for (const name of fetch.variableUsages ?? []) {
      const value = Object.hasOwn(this.variables, name) ? this.variables[name] : undefined;
      if (value !== undefined) variables[name] = value;
    }
    return variables;
  }

  private collectEntities(job: Job, batches: Map<string, EntityBatch>) {
    const { fetch } = job;
    const base = this.variablesFor(fetch);
    // Without context rewrites every entity of the job has the same variables, so the same batch.
    const baseKey = fetch.contextRewrites ? null : `${batchKeyOf(fetch)}\u0000${JSON.stringify(base)}`;
    for (const place of job.places) {
      const representation = selectRepresentation(this.schema, place.value, fetch.requires!);
      if (!representation || typeof representation.__typename !== 'string') continue;
      applyRewrites(this.schema, fetch.inputRewrites, representation);
      const variables = fetch.contextRewrites
        ? { ...base, ...contextArguments(this.schema, place, fetch.contextRewrites) }
        : base;
      const key = baseKey ?? `${batchKeyOf(fetch)}\u0000${JSON.stringify(variables)}`;
      let batch = batches.get(key);
      if (!batch)
        batches.set(
          key,
          (batch = { fetch, variables, representations: [], indexOf: new Map(), targets: [], jobs: new Set() }),
        );
      batch.jobs.add(job);
      const text = JSON.stringify(representation);
      let index = batch.indexOf.get(text);
      if (index === undefined) {
        index = batch.representations.push(representation) - 1;
        batch.indexOf.set(text, index);
        batch.targets.push([]);
      }
      batch.targets[index]!.push(place);
    }
  }

  private async sendRoot({ fetch, places }: Job): Promise<void> {
    const response = await this.send(fetch, this.variablesFor(fetch));
    const prefix = pathOf(places[0]!);
    if (response instanceof GraphQLError) {
      this.errors.push(...atRootFields(response, fetch, prefix));
      return;
    }
    const data = response.data;
    for (const error of response.errors ?? []) {
      const located = subgraphError(error, fetch.serviceName, error.path ? [...prefix, ...error.path] : undefined);
      // No data at all: the fetch failed as a whole, and a pathless error is every root field's.
      this.errors.push(...(error.path || isObject(data) ? [located] : atRootFields(located, fetch, prefix)));
    }
    if (!isObject(data)) return;
    applyRewrites(this.schema, fetch.outputRewrites, data);
    places.forEach((place, index) => mergeInto(place.value, index === 0 ? data : structuredClone(data)));
  }

  private async sendEntities({ fetch, variables, representations, targets }: EntityBatch): Promise<void> {
    const response = await this.send(fetch, { ...variables, representations });
    // A failed entity fetch has no one path to name: one error per entity would multiply by the list's length.
    if (response instanceof GraphQLError) {
      this.errors.push(response);
      return;
    }
    for (const error of response.errors ?? []) {
      const [head, index, ...rest] = error.path ?? [];
      const places = head === '_entities' && typeof index === 'number' ? targets[index] : undefined;
      if (!places) this.errors.push(subgraphError(error, fetch.serviceName, undefined));
      else
        for (const place of places)
          this.errors.push(subgraphError(error, fetch.serviceName, [...pathOf(place), ...rest]));
    }
    if (!isObject(response.data)) return;
    const entities = response.data._entities;
    if (!Array.isArray(entities) || entities.length !== representations.length) {
      this.errors.push(
        new GraphQLError(
          `Subgraph "${fetch.serviceName}" answered ${Array.isArray(entities) ? entities.length : 'no'} entities for ${representations.length} representations`,
          { extensions: { code: ExecutorErrorCode.DownstreamServiceError, serviceName: fetch.serviceName } },
        ),
      );
      return;
    }
    entities.forEach((entity: unknown, index) => {
      // A null entity (not found, or failed) leaves the object as it was: shaping decides what that means.
      if (!isObject(entity)) return;
      applyRewrites(this.schema, fetch.outputRewrites, entity);
      // An entity reached by several paths gets a copy each: later fetches below it may differ per path.
      targets[index]!.forEach((place, nth) => mergeInto(place.value, nth === 0 ? entity : structuredClone(entity)));
    });
  }

  /** One fetch through the subgraph's data source; a failure answers the error, for the caller to place. */
  private async send(fetch: FetchNode, variables: JsonObject): Promise<GatewayGraphQLResponse | GraphQLError> {
    try {
      const options: GraphQLDataSourceProcessOptions = {
        kind: 'incoming operation' as GraphQLDataSourceProcessOptions['kind'] & 'incoming operation',
        request: { query: fetch.operation, variables, operationName: fetch.operationName },
        context: this.requestContext.context,
        incomingRequestContext: this.requestContext,
        document: documentOf(fetch),
      } as GraphQLDataSourceProcessOptions;
      // Named and attributed as @apollo/gateway's fetch spans are, so traces read the same with either executor.
      return await inChildSpan('gateway.fetch', { attributes: { service: fetch.serviceName } }, () =>
        this.dataSource(fetch.serviceName).process(options),
      );
    } catch (error) {
      return error instanceof GraphQLError
        ? error
        : new GraphQLError(error instanceof Error ? error.message : String(error), {
            originalError: error instanceof Error ? error : undefined,
          });
    }
  }
}

/**
 * A whole root fetch's failure, reported at each root field the fetch was
 * for, so a client can tell the fields it lost from fields that are null:
 * one error per field, as a field has one path. A fetch with no such field
 * keeps the error pathless.
 */
function atRootFields(error: GraphQLError, fetch: FetchNode, prefix: ReadonlyArray<string | number>): GraphQLError[] {
  const operation = documentOf(fetch).definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
  const keys = new Set<string>();
  if (operation) collectResponseKeys(documentOf(fetch), operation.selectionSet, keys);
  keys.delete('__typename');
  if (keys.size === 0) return [error];
  return [...keys].map(
    (key) =>
      new GraphQLError(error.message, {
        path: [...prefix, key],
        originalError: error.originalError ?? error,
        extensions: error.extensions,
      }),
  );
}

/** The response keys a selection set answers, its fragments' included. */
function collectResponseKeys(document: DocumentNode, selectionSet: SelectionSetNode, keys: Set<string>) {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) keys.add(selection.alias?.value ?? selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) collectResponseKeys(document, selection.selectionSet, keys);
    else {
      const fragment = document.definitions.find(
        (definition): definition is FragmentDefinitionNode =>
          definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
      );
      if (fragment) collectResponseKeys(document, fragment.selectionSet, keys);
    }
  }
}

function unsupported(kind: string): GraphQLError {
  return new GraphQLError(`Query plans with ${kind} nodes are not supported by this router yet`, {
    extensions: { code: ExecutorErrorCode.UnsupportedQueryPlanNode },
  });
}

function exhaustive(node: never): never {
  throw new Error(`unknown plan node ${JSON.stringify(node)}`);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The objects at `path` below `value`: `@` steps into a list, and a field
 * of a list is the field of each element (nested lists as well).
 */
function descend(
  value: unknown,
  up: Place | null,
  keys: ReadonlyArray<string | number>,
  path: ResponsePath,
  at: number,
  out: Place[],
) {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    const next = path[at] === '@' ? at + 1 : at;
    value.forEach((element: unknown, index) => descend(element, up, [...keys, index], path, next, out));
    return;
  }
  if (!isObject(value)) return;
  if (at === path.length) {
    out.push({ value, up, keys });
    return;
  }
  const step = path[at]!;
  if (typeof step !== 'string' || step === '@') return;
  const place: Place = { value, up, keys };
  descend(Object.hasOwn(value, step) ? value[step] : undefined, place, [step], path, at + 1, out);
}

function pathOf(place: Place): Array<string | number> {
  const path: Array<string | number> = [];
  for (let at: Place | null = place; at; at = at.up) path.unshift(...at.keys);
  return path;
}

/**
 * Merges a subgraph's answer into the response tree, in place: objects
 * field by field, lists element by element, anything else replaced. The
 * answer's own objects are adopted, not copied.
 */
function mergeInto(target: JsonObject, source: JsonObject) {
  for (const key of Object.keys(source)) {
    const incoming = source[key];
    if (incoming === undefined) continue;
    const existing = Object.hasOwn(target, key) ? target[key] : undefined;
    if (isObject(existing) && isObject(incoming)) mergeInto(existing, incoming);
    else if (Array.isArray(existing) && Array.isArray(incoming) && existing.length === incoming.length)
      existing.forEach((element: unknown, index) => {
        const other: unknown = incoming[index];
        if (isObject(element) && isObject(other)) mergeInto(element, other);
        else if (Array.isArray(element) && Array.isArray(other)) mergeInto({ list: element }, { list: other });
        else existing[index] = other;
      });
    // JSON can carry a "__proto__" key; assigning it would replace the object's prototype instead.
    else if (key === '__proto__')
      Object.defineProperty(target, key, { value: incoming, enumerable: true, writable: true, configurable: true });
    else target[key] = incoming;
  }
}

/** Non-null fields by type: a null in one of them means the entity failed upstream and cannot be represented. */
const nonNullFields = new WeakMap<GraphQLSchema, Map<string, boolean>>();

function isNonNullField(schema: GraphQLSchema, typeName: unknown, fieldName: string): boolean {
  if (typeof typeName !== 'string') return false;
  let known = nonNullFields.get(schema);
  if (!known) nonNullFields.set(schema, (known = new Map()));
  const key = `${typeName}.${fieldName}`;
  let nonNull = known.get(key);
  if (nonNull === undefined) {
    const type = schema.getType(typeName);
    const field = type && (isObjectType(type) ? type.getFields()[fieldName] : undefined);
    nonNull = field ? isNonNullType(field.type) : false;
    known.set(key, nonNull);
  }
  return nonNull;
}

/**
 * The representation of an entity that a fetch's `requires` selects from
 * it, or null when it cannot be built: a selected field is missing, or is
 * null where the schema says it cannot be (its subgraph failed).
 */
function selectRepresentation(
  schema: GraphQLSchema,
  source: JsonObject,
  selections: readonly QueryPlanSelectionNode[],
): JsonObject | null {
  const result: JsonObject = {};
  for (const selection of selections) {
    if (selection.kind === 'Field') {
      const name = selection.alias ?? selection.name;
      const value = Object.hasOwn(source, name) ? source[name] : undefined;
      if (value === undefined) return null;
      if (value === null) {
        if (isNonNullField(schema, source.__typename, selection.name)) return null;
        result[name] = null;
        continue;
      }
      if (!selection.selections) {
        result[name] = value;
        continue;
      }
      const selected = selectValue(schema, value, selection.selections);
      if (selected === undefined) return null;
      result[name] = selected;
    } else if (selection.typeCondition === undefined || isOfType(schema, source, selection.typeCondition, false)) {
      const inner = selectRepresentation(schema, source, selection.selections);
      if (!inner) return null;
      Object.assign(result, inner);
    }
  }
  return result;
}

/** A selected value below a representation's root; undefined when it cannot be built. */
function selectValue(schema: GraphQLSchema, value: unknown, selections: readonly QueryPlanSelectionNode[]): unknown {
  if (value === null) return null;
  if (Array.isArray(value)) {
    const list: unknown[] = [];
    for (const element of value as unknown[]) {
      const selected = selectValue(schema, element, selections);
      if (selected === undefined) return undefined;
      list.push(selected);
    }
    return list;
  }
  if (!isObject(value)) return value;
  const selected = selectRepresentation(schema, value, selections);
  if (!selected) return undefined;
  // The plan's requires leave out the __typename of a nested object, though
  // it picks the object's fragments by it: without it, a subgraph handed an
  // abstract value cannot tell which type it is.
  const typename = value.__typename;
  return typeof typename === 'string' && !Object.hasOwn(selected, '__typename')
    ? { __typename: typename, ...selected }
    : selected;
}

/** Whether an object of the response is of `typeName`; `unknown` answers for one that carries no `__typename`. */
function isOfType(schema: GraphQLSchema, value: JsonObject, typeName: string, unknown: boolean): boolean {
  const actual = value.__typename;
  if (typeof actual !== 'string') return unknown;
  if (actual === typeName) return true;
  const condition = schema.getType(typeName);
  const type = schema.getType(actual);
  return !!condition && isAbstractType(condition) && !!type && isObjectType(type) && schema.isSubType(condition, type);
}

const fragmentPrefix = '... on ';

/**
 * Applies a fetch's data rewrites to an input or output object: set a value
 * (an interface object's `__typename`) or rename a key (an alias the
 * planner made to keep two fields apart). A rewrite's path is field names
 * and `... on T` conditions, ending in the field to rewrite.
 */
function applyRewrites(schema: GraphQLSchema, rewrites: readonly FetchDataRewrite[] | undefined, value: JsonObject) {
  if (!rewrites) return;
  for (const rewrite of rewrites) {
    const last = rewrite.path[rewrite.path.length - 1];
    if (last === undefined) continue;
    visitPath(schema, value, rewrite.path, 0, rewrite.path.length - 1, (object) => {
      if (rewrite.kind === 'ValueSetter') object[last] = rewrite.setValueTo as unknown;
      else if (Object.hasOwn(object, last) && object[last] !== undefined) {
        object[rewrite.renameKeyTo] = object[last];
        delete object[last];
      }
    });
  }
}

function visitPath(
  schema: GraphQLSchema,
  value: unknown,
  path: readonly string[],
  at: number,
  end: number,
  visit: (object: JsonObject) => void,
) {
  if (Array.isArray(value)) {
    for (const element of value as unknown[]) visitPath(schema, element, path, at, end, visit);
    return;
  }
  if (!isObject(value)) return;
  if (at === end) {
    visit(value);
    return;
  }
  const step = path[at]!;
  if (step.startsWith(fragmentPrefix)) {
    // Rewrites run on inputs that may not carry a __typename yet: a missing one matches.
    if (isOfType(schema, value, step.slice(fragmentPrefix.length), true))
      visitPath(schema, value, path, at + 1, end, visit);
  } else visitPath(schema, Object.hasOwn(value, step) ? value[step] : undefined, path, at + 1, end, visit);
}

/**
 * The values of a fetch's contextual arguments (`@fromContext`) for one
 * entity, by variable name. Each renamer's path starts at the entity: `..`
 * climbs to the object that holds it (lists are not steps), `... on T`
 * keeps only objects of that type, and field names lead to the value. The
 * planner gives one renamer per possible type of the context's holder; the
 * first that finds a value wins.
 */
function contextArguments(schema: GraphQLSchema, place: Place, renamers: readonly FetchDataKeyRenamer[]): JsonObject {
  const values: JsonObject = {};
  for (const { path, renameKeyTo } of renamers) {
    if (values[renameKeyTo] !== undefined) continue;
    const found = readContext(schema, place, path);
    if (found !== undefined) values[renameKeyTo] = found;
  }
  return values;
}

function readContext(schema: GraphQLSchema, place: Place, path: readonly string[]): unknown {
  let holder: Place | null = place;
  let value: unknown = place.value;
  for (const step of path) {
    if (step === '..') {
      holder = holder?.up ?? null;
      if (!holder) return undefined;
      value = holder.value;
    } else if (step.startsWith(fragmentPrefix)) {
      if (!isObject(value) || !isOfType(schema, value, step.slice(fragmentPrefix.length), false)) return undefined;
    } else {
      if (!isObject(value)) return undefined;
      value = Object.hasOwn(value, step) ? value[step] : undefined;
      holder = null;
    }
  }
  return value;
}

/** A subgraph's error, at its place in the client's response, with its code kept. */
function subgraphError(
  error: NonNullable<GatewayGraphQLResponse['errors']>[number],
  serviceName: string,
  path: ReadonlyArray<string | number> | undefined,
): GraphQLError {
  const extensions: Record<string, unknown> = { ...error.extensions, serviceName };
  extensions.code ??= ExecutorErrorCode.DownstreamServiceError;
  return new GraphQLError(error.message || `Error while fetching subquery from service "${serviceName}"`, {
    path,
    extensions,
  });
}
