import { defaultFieldResolver, isObjectType, type GraphQLSchema } from 'graphql';
import { badUserInput } from '../errors.ts';

/**
 * Characters no database of ours can store: NUL, which Postgres text and
 * its UTF-8 encoding reject outright, and a UTF-16 surrogate without its
 * pair, which is no character at all (the driver would silently write
 * U+FFFD in its place). With the `u` flag a well-formed pair is one code
 * point outside `\p{Cs}`, so only lone halves match.
 */
const unstorable = /[\0\p{Cs}]/u;

/**
 * Refuses, as BAD_USER_INPUT, any argument whose value holds a string (or
 * an input object key) Postgres cannot store, before the field's resolver
 * runs and so before any SQL carries it.
 *
 * Checked on each field's coerced `args` rather than on the request: the
 * same check then covers literals and variables alike, every input type and
 * custom scalar, and the `_entities` representations the router sends, and
 * a refusal is one field's error with its path (the rest of the response
 * still arrives), as every other argument error of this API is. Only fields
 * that take arguments are wrapped, so nested fields cost nothing. A
 * database-level check would come too late: the statement would already
 * have been sent and have failed as an internal error.
 */
export function refuseUnstorableInput(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (field.args.length === 0) continue;
      const resolve = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args: Record<string, unknown>, context, info) => {
        const found = findUnstorable(args);
        if (found) {
          throw badUserInput(
            `\`${found.path}\` contains ${found.what}, which cannot be stored. Remove it and try again.`,
            found.argument,
          );
        }
        return resolve(source, args, context, info);
      };
    }
  }
}

/** Where in `args` the first unstorable string is, and what it holds. */
export function findUnstorable(args: Record<string, unknown>): { argument: string; path: string; what: string } | null {
  // Iterative: a list or a JSON scalar nested deep must not cost stack.
  const pending: Array<{ value: unknown; path: string; argument: string }> = Object.entries(args).map(
    ([name, value]) => ({ value, path: name, argument: name }),
  );
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value, path, argument } = next;
    if (typeof value === 'string') {
      const what = describe(value);
      if (what) return { argument, path, what };
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push({ value: item, path: `${path}[${index}]`, argument }));
    } else if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
      for (const [key, item] of Object.entries(value)) {
        const what = describe(key);
        if (what) return { argument, path: `${path}.${JSON.stringify(key)}`, what };
        pending.push({ value: item, path: `${path}.${key}`, argument });
      }
    }
  }
  return null;
}

function describe(text: string): string | null {
  const match = unstorable.exec(text);
  if (!match) return null;
  if (match[0] === '\0') return 'a NUL character (U+0000)';
  const unit = match[0].charCodeAt(0).toString(16).toUpperCase();
  return `an unpaired UTF-16 surrogate (U+${unit})`;
}
