import {
  getNamedType,
  isAbstractType,
  isEnumType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isSpecifiedScalarType,
  Kind,
  typeFromAST,
  type DirectiveNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLAbstractType,
  type GraphQLInterfaceType,
  type GraphQLLeafType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * The compiled form of an operation for response shaping: what graphql-js's
 * `collectFields` and type walk decide anew for every object, decided once
 * per (schema, operation, @skip/@include outcome, runtime type).
 *
 * Every plan node is a class instance with all its fields set, so the hot
 * loop in shape.ts sees one hidden class per node kind and its property reads
 * stay monomorphic.
 */

/**
 * What a value position holds; the hot path switches on it. String literals,
 * not an enum: an enum imported from another module is a property load on
 * every comparison, which made shaping twice as slow.
 *
 * `verbatim` is `__schema` / `__type`: introspection is answered elsewhere,
 * and its result is passed through as it is.
 */
export type ValueKind = 'nonNull' | 'list' | 'leaf' | 'object' | 'abstract' | 'verbatim';

/** How a leaf value is checked before the general `serialize` call. */
export type LeafKind = 'string' | 'int' | 'float' | 'boolean' | 'id' | 'enum' | 'custom';

export class ValuePlan {
  constructor(
    readonly kind: ValueKind,
    /** The wrapped position, for NonNull and List. */
    readonly of: ValuePlan | null,
    readonly leafKind: LeafKind,
    readonly leafType: GraphQLLeafType | null,
    /** An enum's internal value → the name clients see; only values of the API schema are here. */
    readonly enumNames: Map<unknown, string> | null,
    readonly object: ObjectPlan | null,
    readonly abstract: AbstractPlan | null,
  ) {}
}

export class FieldPlan {
  constructor(
    /** The response key: the alias, or else the field name. */
    readonly key: string,
    readonly fieldName: string,
    /** The runtime object type this field is selected on, for error messages. */
    readonly parentTypeName: string,
    /** `__typename`: answered from the plan, never read from the raw object. */
    readonly isTypename: boolean,
    /**
     * `__proto__` is the one key whose plain read or write reaches the
     * prototype; the hot path takes a guarded slow path for it alone.
     */
    readonly protoKey: boolean,
    readonly value: ValuePlan,
    /** Every field node merged under this key; graphql-js locates errors at all of them. */
    readonly nodes: readonly FieldNode[],
  ) {
    this.nonNull = value.kind === 'nonNull';
    this.inner = this.nonNull ? value.of! : value;
  }
  /** Whether the field's type is non-null: the hot path answers a null then without descending. */
  readonly nonNull: boolean;
  /** The field's type without its outer non-null. */
  readonly inner: ValuePlan;
}

export class ObjectPlan {
  constructor(
    readonly typeName: string,
    readonly fields: readonly FieldPlan[],
  ) {}
}

/**
 * A field of interface or union type: its sub-selection depends on the
 * runtime type, which only the raw object's `__typename` tells, so each
 * runtime type's plan is compiled on first sight and kept.
 */
export class AbstractPlan {
  readonly byType = new Map<string, ObjectPlan>();
  /** `sharedPlan`'s answer once known; undefined until asked. */
  private shared: ObjectPlan | null | undefined = undefined;
  constructor(
    readonly type: GraphQLAbstractType,
    readonly nodes: readonly FieldNode[],
    readonly compiler: Compiler,
  ) {}

  /** The plan for a runtime type already checked to be a possible type of `type`. */
  planFor(runtimeType: GraphQLObjectType): ObjectPlan {
    let plan = this.byType.get(runtimeType.name);
    if (!plan) {
      plan = this.compiler.objectPlan(runtimeType, this.nodes);
      this.byType.set(runtimeType.name, plan);
    }
    return plan;
  }

  /**
   * The plan every possible type shares, or null when the selection depends
   * on the runtime type. Shaping needs no `__typename` for such a value, and
   * the planner asks for none: a subgraph with the interface as an
   * `@interfaceObject` answers its fields without knowing the real type.
   */
  sharedPlan(): ObjectPlan | null {
    if (this.shared === undefined) this.shared = this.compiler.sharedPlan(this.type, this.nodes);
    return this.shared;
  }
}

/**
 * Compiles selection sets under one fixed outcome of every @skip/@include,
 * so the plans it makes hold no per-request data: only the booleans the
 * directives read, never the request's variables themselves.
 */
export class Compiler {
  constructor(
    readonly schema: GraphQLSchema,
    private readonly fragments: Readonly<Record<string, FragmentDefinitionNode>>,
    /** Each @skip/@include variable's value, as far as `if` reads it. */
    private readonly conditions: ReadonlyMap<string, unknown>,
  ) {}

  rootPlan(operation: OperationDefinitionNode): ObjectPlan {
    const root = this.schema.getRootType(operation.operation);
    if (!root) throw new Error(`The schema has no ${operation.operation} type`);
    return this.objectPlan(root, null, operation.selectionSet);
  }

  /**
   * The plan of an interface field's selection when no part of it depends
   * on the runtime type: no `__typename`, and no fragment that applies to
   * only some of the interface's types. Null otherwise, and for unions.
   */
  sharedPlan(type: GraphQLAbstractType, fieldNodes: readonly FieldNode[]): ObjectPlan | null {
    if (!isInterfaceType(type)) return null;
    const visited = new Set<string>();
    for (const node of fieldNodes) {
      if (node.selectionSet && this.dependsOnRuntimeType(type, node.selectionSet, visited)) return null;
    }
    return this.objectPlan(type, fieldNodes);
  }

  private dependsOnRuntimeType(
    type: GraphQLInterfaceType,
    selectionSet: SelectionSetNode,
    visited: Set<string>,
  ): boolean {
    for (const selection of selectionSet.selections) {
      if (!this.included(selection.directives)) continue;
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === '__typename') return true;
        continue;
      }
      let fragment: InlineFragmentNode | FragmentDefinitionNode | undefined = undefined;
      if (selection.kind === Kind.INLINE_FRAGMENT) fragment = selection;
      else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        fragment = this.fragments[selection.name.value];
      }
      if (!fragment) continue;
      if (!this.applies(fragment, type) || this.dependsOnRuntimeType(type, fragment.selectionSet, visited)) return true;
    }
    return false;
  }

  /**
   * graphql-js's `collectSubfields` then a plan per response key. One
   * visited-fragments set spans all the merged field nodes, as there: a
   * fragment spread twice under one key is expanded once. An interface
   * type only comes from `sharedPlan`.
   */
  objectPlan(
    type: GraphQLObjectType | GraphQLInterfaceType,
    fieldNodes: readonly FieldNode[] | null,
    selectionSet?: SelectionSetNode,
  ): ObjectPlan {
    const collected = new Map<string, FieldNode[]>();
    const visited = new Set<string>();
    if (selectionSet) this.collect(type, selectionSet, collected, visited);
    for (const node of fieldNodes ?? []) {
      if (node.selectionSet) this.collect(type, node.selectionSet, collected, visited);
    }
    const definitions = type.getFields();
    const fields: FieldPlan[] = [];
    for (const [key, nodes] of collected) {
      const fieldName = nodes[0]!.name.value;
      const protoKey = key === '__proto__';
      if (fieldName === '__typename') {
        fields.push(new FieldPlan(key, fieldName, type.name, true, protoKey, VERBATIM, nodes));
        continue;
      }
      if (fieldName === '__schema' || fieldName === '__type') {
        fields.push(new FieldPlan(key, fieldName, type.name, false, protoKey, VERBATIM, nodes));
        continue;
      }
      const definition = definitions[fieldName];
      // Only an operation never validated against this schema gets here.
      if (!definition) throw new Error(`Cannot shape a response: ${type.name} has no field "${fieldName}"`);
      fields.push(
        new FieldPlan(key, fieldName, type.name, false, protoKey, this.valuePlan(definition.type, nodes), nodes),
      );
    }
    return new ObjectPlan(type.name, fields);
  }

  private valuePlan(type: GraphQLOutputType, nodes: readonly FieldNode[]): ValuePlan {
    if (isNonNullType(type)) return wrapper('nonNull', this.valuePlan(type.ofType, nodes));
    if (isListType(type)) return wrapper('list', this.valuePlan(type.ofType, nodes));
    if (isObjectType(type)) {
      return new ValuePlan('object', null, 'custom', null, null, this.objectPlan(type, nodes), null);
    }
    if (isAbstractType(type)) {
      const abstract = new AbstractPlan(type, nodes, this);
      return new ValuePlan('abstract', null, 'custom', null, null, null, abstract);
    }
    const leaf = getNamedType(type) as GraphQLLeafType;
    if (isEnumType(leaf)) {
      const names = new Map<unknown, string>();
      for (const value of leaf.getValues()) names.set(value.value, value.name);
      return new ValuePlan('leaf', null, 'enum', leaf, names, null, null);
    }
    return new ValuePlan('leaf', null, scalarKind(leaf), leaf, null, null, null);
  }

  /** graphql-js's `collectFieldsImpl`, with @skip/@include decided by this compiler's conditions. */
  private collect(
    type: GraphQLObjectType | GraphQLInterfaceType,
    selectionSet: SelectionSetNode,
    fields: Map<string, FieldNode[]>,
    visited: Set<string>,
  ): void {
    for (const selection of selectionSet.selections) {
      switch (selection.kind) {
        case Kind.FIELD: {
          if (!this.included(selection.directives)) continue;
          const key = selection.alias?.value ?? selection.name.value;
          const list = fields.get(key);
          if (list) list.push(selection);
          else fields.set(key, [selection]);
          break;
        }
        case Kind.INLINE_FRAGMENT: {
          if (!this.included(selection.directives) || !this.applies(selection, type)) continue;
          this.collect(type, selection.selectionSet, fields, visited);
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const name = selection.name.value;
          // Marked visited before the type condition is checked, as graphql-js does.
          if (visited.has(name) || !this.included(selection.directives)) continue;
          visited.add(name);
          const fragment = this.fragments[name];
          if (!fragment || !this.applies(fragment, type)) continue;
          this.collect(type, fragment.selectionSet, fields, visited);
          break;
        }
      }
    }
  }

  /**
   * A fragment applies to a type it names, or to one implementing or
   * belonging to the type it names: for an interface, to all its types.
   */
  private applies(
    fragment: InlineFragmentNode | FragmentDefinitionNode,
    type: GraphQLObjectType | GraphQLInterfaceType,
  ): boolean {
    if (!fragment.typeCondition) return true;
    const condition = typeFromAST(this.schema, fragment.typeCondition);
    if (condition === type) return true;
    return condition !== undefined && isAbstractType(condition) && this.schema.isSubType(condition, type);
  }

  private included(directives: readonly DirectiveNode[] | undefined): boolean {
    if (!directives) return true;
    for (const directive of directives) {
      const name = directive.name.value;
      if (name !== 'skip' && name !== 'include') continue;
      const value = this.conditionValue(directive);
      if (name === 'skip' && value === true) return false;
      if (name === 'include' && value === false) return false;
    }
    return true;
  }

  private conditionValue(directive: DirectiveNode): unknown {
    const argument = directive.arguments?.find((arg) => arg.name.value === 'if');
    if (!argument) return undefined;
    const { value } = argument;
    if (value.kind === Kind.BOOLEAN) return value.value;
    if (value.kind === Kind.VARIABLE) return this.conditions.get(value.name.value);
    return undefined;
  }
}

/** The placeholder value plan of `__typename` and introspection fields, which the hot path never completes. */
const VERBATIM = new ValuePlan('verbatim', null, 'custom', null, null, null, null);

function wrapper(kind: 'nonNull' | 'list', of: ValuePlan): ValuePlan {
  return new ValuePlan(kind, of, 'custom', null, null, null, null);
}

function scalarKind(type: GraphQLLeafType): LeafKind {
  if (!isSpecifiedScalarType(type)) return 'custom';
  switch (type.name) {
    case 'String':
      return 'string';
    case 'Int':
      return 'int';
    case 'Float':
      return 'float';
    case 'Boolean':
      return 'boolean';
    case 'ID':
      return 'id';
    default:
      return 'custom';
  }
}

/**
 * The variables whose values decide an @skip or @include anywhere in the
 * operation or its fragments: the plan for an operation is one per outcome
 * of these, so they make the key of the plan cache.
 */
export function conditionVariables(
  operation: OperationDefinitionNode,
  fragments: Readonly<Record<string, FragmentDefinitionNode>>,
): string[] {
  const names = new Set<string>();
  const visit = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      for (const directive of selection.directives ?? []) {
        if (directive.name.value !== 'skip' && directive.name.value !== 'include') continue;
        for (const argument of directive.arguments ?? []) {
          if (argument.value.kind === Kind.VARIABLE) names.add(argument.value.name.value);
        }
      }
      if (selection.kind !== Kind.FRAGMENT_SPREAD && selection.selectionSet) visit(selection.selectionSet);
    }
  };
  visit(operation.selectionSet);
  for (const fragment of Object.values(fragments)) visit(fragment.selectionSet);
  return [...names];
}
