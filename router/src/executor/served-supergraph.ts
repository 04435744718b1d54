/**
 * The supergraph as the gateway and the planner are handed it. Its own
 * module so that the graph (../graph.ts) and the plan cache (./plans) both
 * read it without importing each other.
 */

/**
 * Security features each subgraph enforces itself, on the identity the
 * router signs (platform/src/subgraph/authorization.ts).
 */
const subgraphEnforcedFeatures = [
  'https://specs.apollo.dev/authenticated/v0.1',
  'https://specs.apollo.dev/requiresScopes/v0.1',
];

/**
 * Composition links the context spec `for: SECURITY`: a router that
 * ignored `@fromContext` would call fields without their arguments. The
 * router's own executor passes them (./execute-plan.ts).
 */
const contextFeature = 'https://specs.apollo.dev/context/v0.1';

/**
 * The JavaScript gateway refuses a supergraph that links a `for: SECURITY`
 * feature it does not enforce itself. Ours are enforced one hop later, by
 * the subgraph that owns each field, so they are handed to the gateway as
 * plain metadata. With `contextArguments` (the router's own executor) the
 * context spec is too. Any other SECURITY feature (`@policy`, say) still
 * makes the supergraph fail to load, because nothing here would enforce it.
 */
export function withSubgraphEnforcedSecurity(
  supergraphSdl: string,
  { contextArguments = false }: { contextArguments?: boolean } = {},
): string {
  let sdl = supergraphSdl;
  for (const url of contextArguments ? [...subgraphEnforcedFeatures, contextFeature] : subgraphEnforcedFeatures) {
    sdl = sdl.replace(`@link(url: "${url}", for: SECURITY)`, `@link(url: "${url}")`);
  }
  return sdl;
}
