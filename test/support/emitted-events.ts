import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { subgraphs } from '../../subgraphs/registry.ts';

const repositoryRoot = new URL('../../', import.meta.url);

/**
 * The event types the subgraphs can publish, read from their code: every
 * `newEvent(type, …)` call in `subgraphs/<name>/src`, with `type` a string
 * literal or a choice between literals. A call whose type this cannot read
 * is returned in `unreadable`, so a check built on this fails rather than
 * miss an event.
 */
export function eventTypesEmittedBySubgraphs(): {
  types: Map<string, string[]>;
  unreadable: string[];
} {
  const types = new Map<string, string[]>();
  const unreadable: string[] = [];
  for (const { name } of subgraphs) {
    const folder = new URL(`subgraphs/${name}/src/`, repositoryRoot);
    for (const file of sourceFiles(folder.pathname)) {
      const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'newEvent') {
          const literals = node.arguments[0] ? literalsOf(node.arguments[0]) : null;
          const where = `${file.slice(repositoryRoot.pathname.length)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
          if (!literals) unreadable.push(where);
          for (const type of literals ?? []) types.set(type, [...(types.get(type) ?? []), where]);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
  }
  return { types, unreadable };
}

function literalsOf(node: ts.Expression): string[] | null {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node.text];
  if (ts.isParenthesizedExpression(node)) return literalsOf(node.expression);
  if (ts.isConditionalExpression(node)) {
    const whenTrue = literalsOf(node.whenTrue);
    const whenFalse = literalsOf(node.whenFalse);
    return whenTrue && whenFalse ? [...whenTrue, ...whenFalse] : null;
  }
  return null;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => !file.includes('__generated__'));
}
