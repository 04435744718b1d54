import type { ASTNode, GraphQLError } from 'graphql';

/** Where in which subgraph file a composition problem is. */
export interface DiagnosticLocation {
  /** The schema file, as the source was named: `subgraphs/products/schema.graphql`. */
  path: string;
  line: number;
  column: number;
}

/** A composition error or hint, with what a subgraph owner needs to fix it. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  /** Apollo's code: `FIELD_TYPE_MISMATCH`, `INVALID_GRAPHQL`, ... */
  code: string;
  message: string;
  locations: DiagnosticLocation[];
  /** What to do about it, when the code has a known remedy. */
  help: string | undefined;
  /** Compiler-style text: the message, each location with its source line, then the help. */
  text: string;
}

/**
 * What to do, by composition error code. Apollo's messages say what is
 * wrong; these say how a subgraph owner usually fixes it. Codes missing
 * here are rare enough that the message and location must do.
 */
const remedies: Record<string, string> = {
  INVALID_GRAPHQL:
    'fix the schema at the location shown: a typo, a type that is not defined in this subgraph, or a directive not imported by its @link.',
  FIELD_TYPE_MISMATCH:
    'give the field the same type in every subgraph that defines it; only nullability may differ, and only on output fields.',
  FIELD_ARGUMENT_TYPE_MISMATCH: 'give the argument the same type in every subgraph that defines the field.',
  INVALID_FIELD_SHARING:
    'resolve the field in one subgraph only, or mark it @shareable in every subgraph that resolves it (each must then return the same data).',
  TYPE_KIND_MISMATCH:
    'a type name means one kind of type across the graph: rename one of them, or make both the same kind.',
  EXTERNAL_MISSING_ON_BASE:
    'an @external field must be resolved by some other subgraph: add it there, or drop @external and resolve it here.',
  EXTERNAL_UNUSED: 'remove the @external field, or use it from a @key, @requires or @provides.',
  EXTERNAL_TYPE_MISMATCH: 'declare the @external field with the type the owning subgraph gives it.',
  KEY_INVALID_FIELDS: 'every field named in @key(fields:) must exist on the type in this subgraph.',
  KEY_FIELDS_SELECT_INVALID_TYPE: 'key on scalar or object fields; lists, interfaces and unions cannot be keys.',
  REQUIRES_INVALID_FIELDS: 'every field named in @requires(fields:) must exist on the type and be marked @external.',
  REQUIRES_FIELDS_MISSING_EXTERNAL: 'mark the fields named in @requires(fields:) as @external in this subgraph.',
  PROVIDES_INVALID_FIELDS: 'every field named in @provides(fields:) must exist on the returned type.',
  SATISFIABILITY_ERROR:
    'some field cannot be reached from a query: give its type a resolvable @key in the subgraph that defines the field, or make the field @shareable where the router can already reach it.',
  ENUM_VALUE_MISMATCH:
    'an enum used as both input and output must have the same values in every subgraph that defines it.',
  EMPTY_MERGED_ENUM_TYPE:
    'the enum has no value common to every subgraph that defines it; share at least the values used.',
  EMPTY_MERGED_INPUT_TYPE: 'an input type is merged by intersection: give it at least one field every subgraph shares.',
  REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH:
    'add the argument to the field in every subgraph that defines it, or make it optional.',
  REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH:
    'add the input field in every subgraph that defines the input type, or make it optional.',
  REFERENCED_INACCESSIBLE: 'an @inaccessible element is still referenced by a public one: hide both, or neither.',
  INTERFACE_FIELD_NO_IMPLEM: 'add the interface field to the implementing type in some subgraph that defines it.',
  OVERRIDE_FROM_SELF_ERROR: '@override(from:) must name the subgraph the field moves from, not this one.',
  UNKNOWN_FEDERATION_LINK_VERSION: 'link a released federation version, e.g. https://specs.apollo.dev/federation/v2.7.',
  NO_QUERIES: 'at least one subgraph must define a field on Query.',
};

/** A composition error or hint, as a diagnostic pointing into the subgraph files. */
export function diagnosticOf(
  severity: Diagnostic['severity'],
  code: string,
  message: string,
  nodes: readonly ASTNode[] | undefined,
): Diagnostic {
  const located = (nodes ?? []).filter((node) => node.loc !== undefined);
  const locations = located.map((node) => locationOf(node));
  const help = severity === 'error' ? remedies[code] : undefined;
  const lines = [`${severity}[${code}]: ${message}`];
  for (const node of located) lines.push(...excerpt(node));
  if (help) lines.push(`  = help: ${help}`);
  return { severity, code, message, locations, help, text: lines.join('\n') };
}

/** A graphql-js error (a parse error, or one from composition). */
export function diagnosticOfError(error: GraphQLError, fallbackCode = 'INVALID_GRAPHQL'): Diagnostic {
  const code = typeof error.extensions?.code === 'string' ? error.extensions.code : fallbackCode;
  if (error.nodes && error.nodes.length > 0) return diagnosticOf('error', code, error.message, error.nodes);
  // Syntax errors carry a source and a position instead of nodes.
  const diagnostic = diagnosticOf('error', code, error.message, undefined);
  const at = error.locations?.[0];
  if (!error.source || !at) return diagnostic;
  const location = { path: error.source.name, line: at.line, column: at.column };
  const text = [
    diagnostic.text.split('\n')[0]!,
    ...frame(location, error.source.body, at.column, at.column),
    ...diagnostic.text.split('\n').slice(1),
  ].join('\n');
  return { ...diagnostic, locations: [location], text };
}

function locationOf(node: ASTNode): DiagnosticLocation {
  const { startToken, source } = node.loc!;
  return { path: source.name, line: startToken.line, column: startToken.column };
}

/** `--> file:line:col`, the line itself, and a caret under the node's part of it. */
function excerpt(node: ASTNode): string[] {
  const location = locationOf(node);
  const { start, end, source } = node.loc!;
  const lineStart = source.body.lastIndexOf('\n', start - 1) + 1;
  const lineEnd = source.body.indexOf('\n', start);
  const lastColumn = Math.min(end, lineEnd === -1 ? source.body.length : lineEnd) - lineStart;
  return frame(location, source.body, location.column, Math.max(location.column, lastColumn));
}

function frame(location: DiagnosticLocation, body: string, fromColumn: number, toColumn: number): string[] {
  const text = (body.split(/\r\n|\r|\n/)[location.line - 1] ?? '').replace(/\t/g, ' ');
  const gutter = String(location.line);
  const pad = ' '.repeat(gutter.length);
  return [
    `${pad}--> ${location.path}:${location.line}:${location.column}`,
    `${pad} |`,
    `${gutter} | ${text}`,
    `${pad} | ${' '.repeat(fromColumn - 1)}${'^'.repeat(Math.max(1, toColumn - fromColumn + 1))}`,
  ];
}
