import type { GraphQLSchema } from 'graphql';

/**
 * Makes every resolver's result a value or a real promise. A drizzle query
 * builder is a thenable that runs its statement each time `.then` is called,
 * and a resolver may return one unawaited; Apollo Server's field
 * instrumentation calls `.then` on a result and graphql-js calls it again,
 * so the statement would run twice: a read twice as costly, a write done
 * twice. `Promise.resolve` calls `.then` exactly once.
 *
 * Only fields with a resolver of their own are wrapped: default resolvers
 * read a property and are on the hot path of every nested field.
 */
export function executeResultsOnce(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !('getFields' in type) || !('isTypeOf' in type)) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = 'resolve' in field ? field.resolve : undefined;
      if (!resolve) continue;
      field.resolve = (source, args, context, info) => {
        const result: unknown = resolve(source, args, context, info);
        return isLazyThenable(result) ? Promise.resolve(result) : result;
      };
    }
  }
}

function isLazyThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Promise) &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
