import { ChangeType, CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import {
  buildSchema,
  Kind,
  parse,
  TypeInfo,
  validate,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
} from 'graphql';
import { composeSupergraph, type SubgraphSource } from './compose.ts';
import type { Diagnostic } from './diagnostics.ts';

/** A client operation the repository knows: a file under `operations/` or a manifest entry. */
export interface KnownOperation {
  /** Where it comes from, for the report: `operations/catalog/catalog-page.graphql`. */
  source: string;
  document: string;
}

export interface SchemaCheckInput {
  base: readonly SubgraphSource[];
  proposed: readonly SubgraphSource[];
  operations: readonly KnownOperation[];
  /** Fail on any breaking change, even one no known operation uses. */
  strict?: boolean;
}

export interface SchemaChange {
  level: 'breaking' | 'dangerous' | 'safe';
  message: string;
  path: string | undefined;
  /** Breaking, but every known operation still validates. */
  safeForKnownClients?: boolean;
}

export interface SchemaCheckReport {
  ok: boolean;
  /** Errors and hints as compiler-style texts, and the same as structured diagnostics for bots. */
  composition: { ok: boolean; errors: string[]; hints: string[]; diagnostics: Diagnostic[] };
  changes: SchemaChange[];
  brokenOperations: Array<{
    source: string;
    /** The names of the operations the source defines. */
    operations: string[];
    errors: string[];
  }>;
  /** Fields deprecated by this change that known operations still select. */
  newlyDeprecatedInUse: Array<{ field: string; reason: string | undefined; usedBy: string[] }>;
}

/**
 * Checks a proposed set of subgraph schemas against a base, as a pull
 * request check: does it compose, how does the public API schema change
 * (classified by GraphQL Inspector), which known client operations it
 * breaks, and which fields it deprecates that those operations still use.
 */
export async function checkSchemaChange({
  base,
  proposed,
  operations,
  strict = false,
}: SchemaCheckInput): Promise<SchemaCheckReport> {
  const composed = composeSupergraph(proposed);
  if (!composed.ok) {
    return {
      ok: false,
      composition: { ok: false, errors: composed.errors, hints: [], diagnostics: composed.diagnostics },
      changes: [],
      brokenOperations: [],
      newlyDeprecatedInUse: [],
    };
  }
  const baseComposed = composeSupergraph(base);
  const proposedApi = buildSchema(composed.apiSchemaSdl);
  const baseApi = baseComposed.ok ? buildSchema(baseComposed.apiSchemaSdl) : null;

  const brokenOperations: SchemaCheckReport['brokenOperations'] = [];
  const fieldsUsed = new Map<string, Set<string>>();
  for (const operation of operations) {
    let document: DocumentNode;
    try {
      document = parse(operation.document);
    } catch (error) {
      brokenOperations.push({
        source: operation.source,
        operations: [],
        errors: [describeAt(operation.source, error as GraphQLError)],
      });
      continue;
    }
    const errors = validate(proposedApi, document);
    if (errors.length > 0) {
      brokenOperations.push({
        source: operation.source,
        operations: document.definitions.flatMap((definition) =>
          definition.kind === Kind.OPERATION_DEFINITION ? [definition.name?.value ?? '(anonymous)'] : [],
        ),
        errors: errors.map((error) => describeAt(operation.source, error)),
      });
      continue;
    }
    for (const field of fieldsSelected(proposedApi, document)) {
      let users = fieldsUsed.get(field);
      if (!users) fieldsUsed.set(field, (users = new Set()));
      users.add(operation.source);
    }
  }

  // What known operations select today, to tell which breaking changes touch them.
  const usedBefore = new Set<string>();
  if (baseApi) {
    for (const operation of operations) {
      try {
        for (const field of fieldsSelected(baseApi, parse(operation.document))) usedBefore.add(field);
      } catch {
        // Unparseable operations are already reported as broken.
      }
    }
  }
  const touchesKnownOperation = (path: string | undefined) => {
    if (!path) return true;
    const [typeName, fieldName] = path.split('.');
    if (fieldName === undefined) return [...usedBefore].some((field) => field.startsWith(`${typeName}.`));
    return usedBefore.has(`${typeName}.${fieldName}`);
  };

  const rawChanges: Change[] = baseApi ? await diff(baseApi, proposedApi) : [];
  const changes = rawChanges.map((change): SchemaChange => {
    const level = levelOf(change);
    return {
      level,
      message: change.message,
      path: change.path,
      ...(level === 'breaking' ? { safeForKnownClients: !touchesKnownOperation(change.path) } : {}),
    };
  });

  const newlyDeprecatedInUse = rawChanges
    .filter((change) => change.type === ChangeType.FieldDeprecationAdded && change.path)
    .flatMap((change) => {
      // The path names the directive: `Product.sku.@deprecated`.
      const [typeName, fieldName] = change.path!.split('.');
      const field = `${typeName}.${fieldName}`;
      const usedBy = [...(fieldsUsed.get(field) ?? [])];
      if (usedBy.length === 0) return [];
      const type = proposedApi.getType(typeName!) as {
        getFields?: () => Record<string, { deprecationReason?: string | null }>;
      };
      const reason = type?.getFields?.()[fieldName!]?.deprecationReason ?? undefined;
      return [{ field, reason, usedBy }];
    });

  const breaking = changes.some((change) => change.level === 'breaking');
  const breakingForKnownClients = changes.some((change) => change.level === 'breaking' && !change.safeForKnownClients);
  return {
    ok: brokenOperations.length === 0 && !breakingForKnownClients && !(strict && breaking),
    composition: { ok: true, errors: [], hints: composed.hints, diagnostics: composed.diagnostics },
    changes,
    brokenOperations,
    newlyDeprecatedInUse,
  };
}

function levelOf(change: Change): SchemaChange['level'] {
  switch (change.criticality.level) {
    case CriticalityLevel.Breaking:
      return 'breaking';
    case CriticalityLevel.Dangerous:
      return 'dangerous';
    default:
      return 'safe';
  }
}

/** `Type.field` for every field an operation selects. */
function fieldsSelected(schema: GraphQLSchema, document: DocumentNode): Set<string> {
  const typeInfo = new TypeInfo(schema);
  const fields = new Set<string>();
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        if (parent && field) fields.add(`${parent.name}.${field.name}`);
      },
    }),
  );
  return fields;
}

/** `operations/x.graphql:12:5: Cannot query field ...`, the form editors and CI annotations link. */
function describeAt(source: string, error: GraphQLError): string {
  const at = error.locations?.[0];
  return at ? `${source}:${at.line}:${at.column}: ${error.message}` : `${source}: ${error.message}`;
}
