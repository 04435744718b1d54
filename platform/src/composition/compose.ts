import { composeServices } from '@apollo/composition';
import { GraphQLError, parse, printSchema, Source } from 'graphql';
import { diagnosticOf, diagnosticOfError, type Diagnostic } from './diagnostics.ts';

export interface SubgraphSource {
  name: string;
  /** Where the router reaches the subgraph, recorded in the supergraph. */
  url: string;
  sdl: string;
  /** The schema file, as messages name it. Default: `<name>.graphql`. */
  path?: string;
}

export type CompositionOutcome =
  | {
      ok: true;
      supergraphSdl: string;
      apiSchemaSdl: string;
      /** Compiler-style warnings, one text each. */
      hints: string[];
      diagnostics: Diagnostic[];
    }
  | {
      ok: false;
      /** Compiler-style errors, one text each: what, where (file:line:col with the line), and what to do. */
      errors: string[];
      diagnostics: Diagnostic[];
    };

/**
 * Composes subgraph SDL into a supergraph with Apollo's composition, the
 * same algorithm the gateway validates against. Every error and hint points
 * at the subgraph file and line it is about, like a compiler's.
 */
export function composeSupergraph(sources: readonly SubgraphSource[]): CompositionOutcome {
  const parseErrors: Diagnostic[] = [];
  const services = sources.flatMap(({ name, url, sdl, path = `${name}.graphql` }) => {
    try {
      return [{ name, url, typeDefs: parse(new Source(sdl, path)) }];
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      const diagnostic = diagnosticOfError(error);
      parseErrors.push({ ...diagnostic, text: diagnostic.text.replace(': ', `: [${name}] `) });
      return [];
    }
  });
  if (parseErrors.length > 0) return failed(parseErrors);

  const result = composeServices(services);
  if (result.errors) return failed(result.errors.map((error) => diagnosticOfError(error, 'COMPOSITION_ERROR')));
  const hints = result.hints
    .filter((hint) => !isExpectedHint(hint.definition.code, hint.message))
    .map((hint) => diagnosticOf('warning', hint.definition.code, hint.message, hint.nodes));
  return {
    ok: true,
    supergraphSdl: result.supergraphSdl,
    // @defer is part of the API: the router plans and streams deferred fragments.
    apiSchemaSdl: printSchema(result.schema.toAPISchema().toGraphQLJSSchema({ includeDefer: true })),
    hints: hints.map((hint) => hint.text),
    diagnostics: hints,
  };
}

function failed(diagnostics: Diagnostic[]): CompositionOutcome {
  return { ok: false, errors: diagnostics.map((diagnostic) => diagnostic.text), diagnostics };
}

/**
 * Every subgraph declares `enum CacheControlScope` for its `@cacheControl`
 * hints, and composition calls it unused because directive definitions do
 * not reach the supergraph. That is by design, so it is not worth a warning.
 */
function isExpectedHint(code: string, message: string): boolean {
  return code === 'UNUSED_ENUM_TYPE' && message.includes('"CacheControlScope"');
}
