import ts from 'typescript';

/**
 * The one line the scaffold adds outside the new subgraph's folder: its
 * entry in subgraphs/registry.ts. The list is found in the file's syntax
 * tree, and a registry that no longer has the expected shape stops the run
 * with a `RegistryLineError` before anything is written.
 */

export const registryPath = 'subgraphs/registry.ts';

export class RegistryLineError extends Error {
  override name = 'RegistryLineError';
  constructor(problem: string) {
    super(`${registryPath}: ${problem}. Update scripts/new-subgraph/registry-line.ts to match the file.`);
  }
}

export interface RegisteredSubgraph {
  name: string;
  port: number;
}

/** The port after the highest one taken. */
export function nextFreePort(registered: readonly RegisteredSubgraph[]): number {
  return Math.max(...registered.map((entry) => entry.port)) + 1;
}

/** The subgraphs in the registry, read from its syntax tree, the way the edit sees them. */
export function readRegistry(text: string): RegisteredSubgraph[] {
  const entries = registryList(text).elements.map((element) => {
    const property = (key: string) =>
      ts.isObjectLiteralExpression(element)
        ? element.properties.find(
            (candidate): candidate is ts.PropertyAssignment =>
              ts.isPropertyAssignment(candidate) && ts.isIdentifier(candidate.name) && candidate.name.text === key,
          )?.initializer
        : undefined;
    const name = property('name');
    const port = property('port');
    if (!name || !ts.isStringLiteral(name) || !port || !ts.isNumericLiteral(port)) {
      throw new RegistryLineError(`the entry \`${element.getText()}\` is not \`{ name: '…', port: … }\``);
    }
    return { name: name.text, port: Number(port.text) };
  });
  if (entries.length === 0) throw new RegistryLineError('lists no subgraphs');
  return entries;
}

/** The registry with `entry` after the last one, on a line of its own as the others are. */
export function addRegistryLine(text: string, { name, port }: RegisteredSubgraph): string {
  const list = registryList(text);
  const last = list.elements.at(-1);
  if (!last) throw new RegistryLineError('lists no subgraphs');
  const line = `{ name: '${name}', port: ${port} },`;
  const indent = ' '.repeat(last.getStart() - text.lastIndexOf('\n', last.getStart() - 1) - 1);
  if (!list.elements.hasTrailingComma) return insertAt(text, last.getEnd(), `,\n${indent}${line.slice(0, -1)}`);
  return insertAt(text, text.indexOf(',', last.getEnd()) + 1, `\n${indent}${line}`);
}

/** The array a top-level `const subgraphs = [ … ]` holds, looking through `as` and `satisfies`. */
function registryList(text: string): ts.ArrayLiteralExpression {
  const source = ts.createSourceFile(registryPath, text, ts.ScriptTarget.Latest, true);
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      if (!ts.isIdentifier(declaration.name) || declaration.name.text !== 'subgraphs') continue;
      let value = declaration.initializer;
      while (value && (ts.isAsExpression(value) || ts.isSatisfiesExpression(value))) value = value.expression;
      if (value && ts.isArrayLiteralExpression(value)) return value;
    }
  }
  throw new RegistryLineError('found no top-level `const subgraphs = [ … ]`');
}

function insertAt(text: string, offset: number, insertion: string): string {
  return text.slice(0, offset) + insertion + text.slice(offset);
}
