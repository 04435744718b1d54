import { composeServices } from '@apollo/composition';
import { printSchema, type GraphQLError } from 'graphql';
import { parse } from 'graphql';

export interface SubgraphSource {
  name: string;
  /** Where the router reaches the subgraph, recorded in the supergraph. */
  url: string;
  sdl: string;
}

export type CompositionOutcome =
  { ok: true; supergraphSdl: string; apiSchemaSdl: string; hints: string[] } | { ok: false; errors: string[] };

/**
 * Composes subgraph SDL into a supergraph with Apollo's composition, the
 * same algorithm the gateway validates against. A subgraph whose SDL does
 * not parse is reported by name rather than as a bare syntax error.
 */
export function composeSupergraph(sources: readonly SubgraphSource[]): CompositionOutcome {
  const errors: string[] = [];
  const services = sources.flatMap(({ name, url, sdl }) => {
    try {
      return [{ name, url, typeDefs: parse(sdl) }];
    } catch (error) {
      errors.push(`[${name}] schema.graphql does not parse: ${(error as Error).message}`);
      return [];
    }
  });
  if (errors.length > 0) return { ok: false, errors };

  const result = composeServices(services);
  if (result.errors) return { ok: false, errors: result.errors.map(describeError) };
  return {
    ok: true,
    supergraphSdl: result.supergraphSdl,
    apiSchemaSdl: printSchema(result.schema.toAPISchema().toGraphQLJSSchema()),
    hints: result.hints.map((hint) => `${hint.definition.code}: ${hint.message}`),
  };
}

function describeError(error: GraphQLError): string {
  const code = error.extensions?.code;
  return code ? `${String(code)}: ${error.message}` : error.message;
}
