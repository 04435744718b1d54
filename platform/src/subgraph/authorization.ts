import {
  defaultFieldResolver,
  getNamedType,
  isObjectType,
  valueFromASTUntyped,
  type ConstDirectiveNode,
  type GraphQLError,
  type GraphQLField,
  type GraphQLSchema,
} from 'graphql';
import { forbidden, unauthenticated } from '../errors.ts';
import { isUuid } from '../graphql/ids.ts';
import type { Viewer } from '../identity.ts';

/** What a field demands of the caller, from Federation's `@authenticated` and `@requiresScopes`. */
export interface AccessRule {
  authenticated: boolean;
  /** Any one of these sets, all of its scopes: `[["admin"], ["orders:read", "support"]]`. */
  scopeSets: string[][];
}

// Names as a subgraph imports them through @link, or prefixed when it does not.
const authenticatedNames = new Set(['authenticated', 'federation__authenticated']);
const requiresScopesNames = new Set(['requiresScopes', 'federation__requiresScopes']);

/**
 * Enforces `@authenticated` and `@requiresScopes` on every field that
 * carries them, or whose type does, in this subgraph's own schema, against
 * the viewer the router signed (context.viewer). Apollo's JavaScript
 * gateway does not enforce them, so the subgraph that owns a field does,
 * for every path that reaches it. A denied field resolves to an error
 * (UNAUTHENTICATED without a viewer, FORBIDDEN without the scopes): null in
 * the response, with the rest of it intact when the field is nullable.
 *
 * Returns the rules it applied, by `Type.field`, for tests and diagnostics.
 */
export function enforceAccessRules(schema: GraphQLSchema): Map<string, AccessRule> {
  const applied = new Map<string, AccessRule>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const returned = getNamedType(field.type);
      const rule = ruleOf([
        ...(field.astNode?.directives ?? []),
        ...(returned.astNode && 'directives' in returned.astNode ? (returned.astNode.directives ?? []) : []),
      ]);
      if (!rule) continue;
      guard(field, rule);
      applied.set(`${type.name}.${field.name}`, rule);
    }
  }
  return applied;
}

function ruleOf(directives: readonly ConstDirectiveNode[]): AccessRule | null {
  let authenticated = false;
  const scopeSets: string[][] = [];
  for (const directive of directives) {
    if (authenticatedNames.has(directive.name.value)) authenticated = true;
    if (requiresScopesNames.has(directive.name.value)) {
      const scopes = directive.arguments?.find((argument) => argument.name.value === 'scopes');
      const value = scopes ? valueFromASTUntyped(scopes.value) : [];
      if (Array.isArray(value)) scopeSets.push(...value.filter(Array.isArray).map((set) => set.map(String)));
    }
  }
  return authenticated || scopeSets.length > 0 ? { authenticated, scopeSets } : null;
}

function guard(field: GraphQLField<unknown, unknown>, rule: AccessRule): void {
  const resolve = field.resolve ?? defaultFieldResolver;
  field.resolve = (source, args, context, info) => {
    checkAccess(rule, (context as { viewer?: Viewer | null }).viewer ?? null);
    return resolve(source, args, context, info);
  };
  // A subscription field is checked when it starts too: a caller who may not see its events never subscribes.
  const subscribe = field.subscribe;
  if (subscribe)
    field.subscribe = (source, args, context, info) => {
      checkAccess(rule, (context as { viewer?: Viewer | null }).viewer ?? null);
      return subscribe(source, args, context, info);
    };
}

/** Throws the coded error a caller gets for a field it may not see. */
export function checkAccess(rule: AccessRule, viewer: Viewer | null): void {
  if (!viewer) throw unauthenticated();
  if (rule.scopeSets.length === 0) return;
  const held = new Set(viewer.scopes);
  if (!rule.scopeSets.some((set) => set.every((scope) => held.has(scope)))) {
    throw forbidden('You do not have the scope this needs.');
  }
}

/** Ownership, which no directive can express: only `ownerId` may see this. */
export function requireOwner(viewer: Viewer | null, ownerId: string): void {
  if (!viewer) throw unauthenticated();
  if (viewer.id !== ownerId) throw forbidden('Only its owner may see this.');
}

/**
 * The error for a verified caller without an account: their token is good
 * (so not UNAUTHENTICATED), but there is no shopper they may act as. They
 * read what anyone may; every write of a shopper is refused with this.
 */
export function noAccount(): GraphQLError {
  return forbidden('There is no account for the signed-in user, so it can only read public data.');
}

/**
 * The viewer's id as the account it must be for a write, or `noAccount()`
 * when it cannot name one. Accounts are UUIDs: any other `sub` (a token
 * from the identity provider for someone who never signed up) is refused
 * here, before a statement would fail on the uuid column as an internal error.
 * Whether the account exists is each subgraph's to check against what it
 * knows of accounts.
 */
export function accountIdOf(viewer: Viewer | null): string {
  if (!viewer) throw unauthenticated();
  if (!isUuid(viewer.id)) throw noAccount();
  return viewer.id.toLowerCase();
}
