import { defaultFieldResolver, type GraphQLSchema } from 'graphql';
import { inChildSpan } from '../tracing.ts';

/**
 * Gives every root field of the subgraph (`Query.product`,
 * `Mutation.placeOrder`, the `Query._entities` the router calls for
 * references) a span of its own, inside the request's server span, so a
 * trace shows which field the statements under it ran for. Nested fields
 * get none: one span per resolved object would drown the statements.
 */
export function traceRootFields(schema: GraphQLSchema): void {
  for (const type of [schema.getQueryType(), schema.getMutationType()]) {
    if (!type) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve ?? defaultFieldResolver;
      const name = `${type.name}.${field.name}`;
      // As OpenTelemetry's GraphQL instrumentation names it.
      const attributes = { 'graphql.field.name': field.name };
      field.resolve = (source, args, context, info) =>
        inChildSpan(name, { attributes }, () => resolve(source, args, context, info));
    }
  }
}
