import {
  GraphQLError,
  isObjectType,
  Kind,
  locatedError,
  OperationTypeNode,
  type FragmentDefinitionNode,
  type GraphQLInterfaceType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { Compiler, conditionVariables, type FieldPlan, type ObjectPlan, type ValuePlan } from './shape-plan.ts';

export interface ShapeInput {
  /** The API schema, the one clients see: values it does not know (an @inaccessible enum value) become errors. */
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  /** The operation document's fragments; the same record for every call with the same `operation` node. */
  fragments: Record<string, FragmentDefinitionNode>;
  /** The request's variables, already coerced (defaults applied). */
  variables: Record<string, unknown>;
  /** The merged raw tree from every fetch of the plan; `null` reads as an empty root object. */
  data: Record<string, unknown> | null;
  /** Subgraph errors, their paths already mapped to client paths. */
  errors: GraphQLError[];
}

export interface ShapeResult {
  data: Record<string, unknown> | null;
  /** The subgraph errors in their order, then the errors shaping raised. */
  errors: GraphQLError[];
}

/**
 * Shapes the raw tree of a query plan's fetches into the response the
 * client asked for, in one pass, with what graphql-js `execute` would
 * return over that tree with a resolver reading each field's response key:
 * keys in selection order, aliases, `__typename`, fragments applied by the
 * runtime type the raw `__typename` names, @skip/@include, leaf values
 * serialised by the API schema, and nulls in non-null positions nulling
 * the nearest nullable parent with one error.
 *
 * Where it deliberately differs from graphql-js, and why:
 * - Null errors already explained by a subgraph error are not raised. A
 *   subgraph error explains a null at path P when its path is P, lies
 *   below P, or lies above P (a failed entity fetch is reported at the
 *   entity's path, and leaves that entity's non-null fields missing below
 *   it). graphql-js knows nothing of subgraph errors and would add a second
 *   error for the same failure (apollographql/federation#981). Stock
 *   @apollo/gateway 2.14 (`computeResponse` in resultShaping.ts, not graphql-js)
 *   goes further: it drops every shaping error when any subgraph failed, and
 *   otherwise moves them to `extensions.valueCompletion` instead of `errors`.
 *   We keep the shaping errors that no subgraph error explains in `errors`,
 *   where the GraphQL spec puts them.
 * - An enum value the API schema lacks (an @inaccessible one) fails the
 *   field without naming the value; graphql-js's message names it.
 * - A raw `__typename` naming a type the API schema lacks (an @inaccessible
 *   type) fails the field without naming the type, so the error does not
 *   leak it; graphql-js's message names it.
 * - A value of interface type with no `__typename` (or with the
 *   interface's own name, as an `@interfaceObject` subgraph answers) is
 *   completed by the interface's fields when the selection does not depend
 *   on its runtime type; graphql-js cannot resolve its type and fails it.
 *   The planner asks for `__typename` only where the selection needs it.
 * - Fields are read as own properties of the raw objects: a response key
 *   such as `constructor` or `__proto__` never reaches `Object.prototype`.
 * - `__schema` and `__type` are out of scope: whatever the raw tree holds
 *   under their key is passed through as it is.
 */
export function shapeResponse(input: ShapeInput): ShapeResult {
  const plan = planFor(input);
  const run: Run = { path: [], errors: [], subgraphErrors: input.errors };
  const data = completeObject(plan, input.data ?? EMPTY, run);
  return {
    data: data === BUBBLE ? null : data,
    errors: run.errors.length === 0 ? input.errors : [...input.errors, ...run.errors],
  };
}

export interface ShapeObjectInput {
  schema: GraphQLSchema;
  /** The object's type: an object type, or an interface whose fields the selection reads on any of its types. */
  type: GraphQLObjectType | GraphQLInterfaceType;
  /** A selection on `type`, named fragments inlined (it is compiled without a fragment table). */
  selectionSet: SelectionSetNode;
  variables: Record<string, unknown>;
  /** The object's raw data in the merged tree. */
  data: Record<string, unknown>;
  /** Where the object is in the response: the paths of errors raised below it start here. */
  path: ReadonlyArray<string | number>;
  /** Subgraph errors, their paths already mapped to client paths. */
  errors: readonly GraphQLError[];
}

/**
 * Shapes one object of the response by a selection of its own, as
 * `shapeResponse` shapes the whole: a deferred fragment's part
 * (./defer). A null in a non-null position propagates up to the object
 * and no further, so the object's data is then null: that is where a
 * deferred fragment's data stops.
 */
export function shapeObject(input: ShapeObjectInput): { data: Record<string, unknown> | null; errors: GraphQLError[] } {
  const plan = objectPlanFor(input);
  const run: Run = { path: [...input.path], errors: [], subgraphErrors: input.errors };
  const data = completeObject(plan, input.data, run);
  return { data: data === BUBBLE ? null : data, errors: run.errors };
}

/** Compiled object plans, by schema, then selection set node, then type and @skip/@include outcome. */
const compiledObjects = new WeakMap<
  GraphQLSchema,
  WeakMap<SelectionSetNode, { conditions: readonly string[]; plans: Map<string, ObjectPlan> }>
>();

function objectPlanFor({ schema, type, selectionSet, variables }: ShapeObjectInput): ObjectPlan {
  let bySchema = compiledObjects.get(schema);
  if (!bySchema) compiledObjects.set(schema, (bySchema = new WeakMap()));
  let known = bySchema.get(selectionSet);
  if (!known) {
    const asOperation: OperationDefinitionNode = {
      kind: Kind.OPERATION_DEFINITION,
      operation: OperationTypeNode.QUERY,
      selectionSet,
    };
    known = { conditions: conditionVariables(asOperation, {}), plans: new Map() };
    bySchema.set(selectionSet, known);
  }
  let signature = type.name;
  for (const name of known.conditions) {
    const value = variables[name];
    signature += value === true ? 't' : value === false ? 'f' : 'u';
  }
  let plan = known.plans.get(signature);
  if (!plan) {
    const conditions = new Map<string, unknown>();
    for (const name of known.conditions) conditions.set(name, variables[name]);
    plan = new Compiler(schema, {}, conditions).objectPlan(type, null, selectionSet);
    if (known.plans.size >= MAX_PLANS_PER_OPERATION) known.plans.delete(known.plans.keys().next().value!);
    known.plans.set(signature, plan);
  }
  return plan;
}

/** Per-call state of the hot path: one object, no closures. */
interface Run {
  /** The response path of the value being completed, pushed and popped in place; copied only into errors. */
  path: (string | number)[];
  errors: GraphQLError[];
  subgraphErrors: readonly GraphQLError[];
}

/**
 * Returned by a completion whose null must propagate to the nearest
 * nullable position, its error already recorded: graphql-js throws there,
 * and a thrown error also stops the rest of that object or list, which
 * returning early reproduces (errors in later siblings are not reported).
 */
const BUBBLE: unique symbol = Symbol('bubble');
type Completed = unknown;
/** Returned by the fast leaf check for a value only `serialize` can judge. */
const SLOW: unique symbol = Symbol('slow');

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const hasOwn = Object.hasOwn;

function completeObject(
  plan: ObjectPlan,
  raw: Record<string, unknown>,
  run: Run,
): Record<string, unknown> | typeof BUBBLE {
  const out: Record<string, unknown> = {};
  const fields = plan.fields;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    let completed: Completed;
    if (field.isTypename) {
      completed = plan.typeName;
    } else {
      let value = raw[field.key];
      // JSON has no functions: a function came from the prototype chain, so the raw object lacks the field.
      if (typeof value === 'function' || (field.protoKey && !hasOwn(raw, field.key))) value = undefined;
      if (value === null || value === undefined) {
        if (field.nonNull) {
          run.path.push(field.key);
          nullError(field, run);
          run.path.pop();
          return BUBBLE;
        }
        completed = null;
      } else {
        // Most fields are leaves with values serialize would return as they are: no path, no call chain.
        const inner = field.inner;
        completed = inner.kind === 'leaf' ? passThrough(inner, value) : SLOW;
        if (completed === SLOW) {
          run.path.push(field.key);
          completed = completeNonNullValue(inner, value, field, run);
          run.path.pop();
          if (completed === BUBBLE) {
            if (field.nonNull) return BUBBLE;
            completed = null;
          }
        }
      }
    }
    if (field.protoKey)
      Object.defineProperty(out, field.key, { value: completed, enumerable: true, writable: true, configurable: true });
    else out[field.key] = completed;
  }
  return out;
}

function completeValue(plan: ValuePlan, value: unknown, field: FieldPlan, run: Run): Completed {
  if (plan.kind === 'nonNull') {
    if (value === null || value === undefined) return nullError(field, run);
    return completeNonNullValue(plan.of!, value, field, run);
  }
  if (value === null || value === undefined) return null;
  const completed = completeNonNullValue(plan, value, field, run);
  return completed === BUBBLE ? null : completed;
}

/** Completes a value known not to be null or undefined, in a position of any nullability. */
function completeNonNullValue(plan: ValuePlan, value: unknown, field: FieldPlan, run: Run): Completed {
  switch (plan.kind) {
    case 'leaf':
      return completeLeaf(plan, value, field, run);
    case 'object':
      return completeObject(plan.object!, typeof value === 'object' ? (value as Record<string, unknown>) : EMPTY, run);
    case 'abstract':
      return completeAbstract(plan, value, field, run);
    case 'verbatim':
      return value;
    case 'list': {
      if (!Array.isArray(value)) {
        return fieldError(
          new GraphQLError(
            `Expected Iterable, but did not find one for field "${field.parentTypeName}.${field.fieldName}".`,
          ),
          field,
          run,
        );
      }
      const items: unknown[] = [];
      const itemPlan = plan.of!;
      for (let i = 0; i < value.length; i++) {
        run.path.push(i);
        const item = completeValue(itemPlan, value[i], field, run);
        run.path.pop();
        if (item === BUBBLE) return BUBBLE;
        items.push(item);
      }
      return items;
    }
    default:
      throw new Error(`Unexpected value plan kind ${plan.kind}`);
  }
}

/**
 * Built-in scalars and enums take a check-only fast path for the values
 * their `serialize` would return unchanged; anything else goes through
 * `serialize`, so coercions (an ID from a number) and errors are exactly
 * graphql-js's.
 */
function completeLeaf(plan: ValuePlan, value: unknown, field: FieldPlan, run: Run): Completed {
  const fast = passThrough(plan, value);
  if (fast !== SLOW) return fast;
  const type = plan.leafType!;
  // The API schema's enum lacks the value (it is @inaccessible, or unknown): graphql-js's message would name it.
  if (plan.leafKind === 'enum')
    return fieldError(new GraphQLError(invalidValueMessage(type.name, field, run)), field, run);
  let serialized: unknown;
  try {
    serialized = type.serialize(value);
  } catch (error) {
    return fieldError(error, field, run);
  }
  if (serialized === null || serialized === undefined) {
    return fieldError(
      new Error(
        `Expected \`${type.name}.serialize(${describeValue(value)})\` to return non-nullable value, returned: ${describeValue(serialized)}`,
      ),
      field,
      run,
    );
  }
  return serialized;
}

/**
 * What an enum value the API schema lacks is reported as, at a field or at
 * a list element: the stock gateway's wording, which names the position
 * and never the value.
 */
function invalidValueMessage(typeName: string, field: FieldPlan, run: Run): string {
  const at = run.path[run.path.length - 1];
  return typeof at === 'number'
    ? `Invalid value found for array element of type ${typeName} at index ${at}.`
    : `Invalid value found for field ${field.parentTypeName}.${field.fieldName}.`;
}

/**
 * A value as an error message shows it: strings quoted, as graphql-js's
 * `inspect` does for the values that reach these messages. Its own module
 * (`graphql/jsutils`) is not part of graphql's public API.
 */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `[function ${value.name || '(anonymous)'}]`;
  if (typeof value !== 'object' || value === null) return String(value);
  const placeholder = Array.isArray(value) ? '[Array]' : '[object]';
  try {
    // undefined when a toJSON answers it.
    return (JSON.stringify(value) as string | undefined) ?? placeholder;
  } catch {
    // A cycle, or a toJSON that throws: a message must still be made.
    return placeholder;
  }
}

/** The value itself, or the name of an enum value, when serialize would return just that; else SLOW. */
function passThrough(plan: ValuePlan, value: unknown): Completed {
  switch (plan.leafKind) {
    case 'string':
    case 'id':
      return typeof value === 'string' ? value : SLOW;
    case 'int':
      return typeof value === 'number' && (value | 0) === value ? value : SLOW;
    case 'float':
      return typeof value === 'number' && Number.isFinite(value) ? value : SLOW;
    case 'boolean':
      return typeof value === 'boolean' ? value : SLOW;
    case 'enum':
      return plan.enumNames!.get(value) ?? SLOW;
    default:
      return SLOW;
  }
}

/** graphql-js's default type resolver and runtime type checks: the raw `__typename` decides. */
function completeAbstract(plan: ValuePlan, value: unknown, field: FieldPlan, run: Run): Completed {
  const abstract = plan.abstract!;
  const raw = typeof value === 'object' ? (value as Record<string, unknown>) : EMPTY;
  const typename = raw.__typename;
  if (typeof typename === 'string') {
    const known = abstract.byType.get(typename);
    if (known) return completeObject(known, raw, run);
  }
  const { type } = abstract;
  // No runtime type (or only the interface's own name, as an @interfaceObject subgraph gives it): enough when no part of the selection depends on it.
  if (typeof typename !== 'string' || typename === type.name) {
    const shared = abstract.sharedPlan();
    if (shared) return completeObject(shared, raw, run);
  }
  const schema = abstract.compiler.schema;
  let problem: string;
  if (typeof typename !== 'string') {
    problem = `Abstract type "${type.name}" must resolve to an Object type at runtime for field "${field.parentTypeName}.${field.fieldName}". Either the "${type.name}" type should provide a "resolveType" function or each possible type should provide an "isTypeOf" function.`;
  } else {
    const runtimeType = schema.getType(typename);
    if (!runtimeType)
      problem = `Abstract type "${type.name}" was resolved to a type that does not exist inside the schema.`;
    else if (!isObjectType(runtimeType))
      problem = `Abstract type "${type.name}" was resolved to a non-object type "${typename}".`;
    else if (!schema.isSubType(type, runtimeType))
      problem = `Runtime Object type "${typename}" is not a possible type for "${type.name}".`;
    else return completeObject(abstract.planFor(runtimeType), raw, run);
  }
  return fieldError(new GraphQLError(problem), field, run);
}

/** A field error at the current path: recorded, and the value nulls the nearest nullable position. */
function fieldError(error: unknown, field: FieldPlan, run: Run): typeof BUBBLE {
  run.errors.push(locatedError(error, field.nodes, run.path.slice()));
  return BUBBLE;
}

function nullError(field: FieldPlan, run: Run): typeof BUBBLE {
  if (!explainedBySubgraph(run.path, run.subgraphErrors)) {
    const message = `Cannot return null for non-nullable field ${field.parentTypeName}.${field.fieldName}.`;
    run.errors.push(locatedError(new Error(message), field.nodes, run.path.slice()));
  }
  return BUBBLE;
}

/** Whether a subgraph error lies on the same branch as `path`: at it, below it, or above it (see `shapeResponse`). */
function explainedBySubgraph(path: readonly (string | number)[], errors: readonly GraphQLError[]): boolean {
  for (const error of errors) {
    const other = error.path;
    if (!other || other.length === 0) continue;
    const shared = Math.min(other.length, path.length);
    let same = true;
    for (let i = 0; i < shared && same; i++) same = String(other[i]) === String(path[i]);
    if (same) return true;
  }
  return false;
}

interface OperationPlans {
  /** The variables @skip/@include read; their values pick the plan. */
  conditions: readonly string[];
  bySignature: Map<string, ObjectPlan>;
}

/**
 * Compiled plans, by schema then operation node: a schema reload or a
 * document evicted from the parse cache lets its plans go with it.
 */
const compiled = new WeakMap<GraphQLSchema, WeakMap<OperationDefinitionNode, OperationPlans>>();

/**
 * An operation has one plan per outcome of its @skip/@include variables;
 * past this many, the oldest is dropped, so a request cannot grow the
 * cache by cycling through 2^n outcomes.
 */
const MAX_PLANS_PER_OPERATION = 16;

function planFor({ schema, operation, fragments, variables }: ShapeInput): ObjectPlan {
  let bySchema = compiled.get(schema);
  if (!bySchema) {
    bySchema = new WeakMap();
    compiled.set(schema, bySchema);
  }
  let plans = bySchema.get(operation);
  if (!plans) {
    plans = { conditions: conditionVariables(operation, fragments), bySignature: new Map() };
    bySchema.set(operation, plans);
  }
  let signature = '';
  for (const name of plans.conditions) {
    const value = variables[name];
    signature += value === true ? 't' : value === false ? 'f' : 'u';
  }
  let plan = plans.bySignature.get(signature);
  if (!plan) {
    const conditions = new Map<string, unknown>();
    for (const name of plans.conditions) conditions.set(name, variables[name]);
    plan = new Compiler(schema, fragments, conditions).rootPlan(operation);
    if (plans.bySignature.size >= MAX_PLANS_PER_OPERATION) {
      plans.bySignature.delete(plans.bySignature.keys().next().value!);
    }
    plans.bySignature.set(signature, plan);
  }
  return plan;
}
