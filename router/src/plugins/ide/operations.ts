import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Kind, parse } from 'graphql';

/** One file of `operations/`, as the IDE's picker offers it. */
export interface ShippedOperation {
  /** The names of the file's operations, e.g. `ProductPage, ProductReviews`. */
  name: string;
  /** Its path under the operations folder, e.g. `product/product-page.graphql`. */
  file: string;
  /** The file as written, comments and fragments included, so every operation in it runs as shipped. */
  document: string;
  /** A variables skeleton: each variable without a default, set to null for the user to fill in. */
  variables: string;
}

/**
 * Reads every `.graphql` file under `folder` (the generated folder aside),
 * sorted by path. The trusted-documents manifest is generated from the same
 * files (codegen.ts), so the picker offers exactly what a client may send.
 * A file that does not parse is skipped: codegen reports it, and the IDE
 * should still open.
 */
export async function readShippedOperations(folder: string): Promise<ShippedOperation[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.graphql'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => !relative(folder, path).split(/[\\/]/).includes('__generated__'))
    .sort();
  const operations: ShippedOperation[] = [];
  for (const path of files) {
    const document = await readFile(path, 'utf8');
    let names: string[] = [];
    const variables: Record<string, null> = {};
    try {
      for (const definition of parse(document).definitions) {
        if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
        names.push(definition.name?.value ?? 'anonymous');
        for (const variable of definition.variableDefinitions ?? []) {
          if (!variable.defaultValue) variables[variable.variable.name.value] = null;
        }
      }
    } catch {
      continue;
    }
    if (names.length === 0) names = ['(fragments only)'];
    operations.push({
      name: names.join(', '),
      file: relative(folder, path).split('\\').join('/'),
      document,
      variables: JSON.stringify(variables, null, 2),
    });
  }
  return operations;
}
