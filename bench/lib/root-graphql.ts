/**
 * `graphql` as the root's Apollo packages see it. bench/node_modules holds a
 * second copy (a peer of Hive Gateway), which bench code would otherwise
 * import first, and graphql refuses to mix schemas and documents from two
 * copies ("Cannot use GraphQLSchema from another module or realm").
 */
import { createRequire } from 'node:module';

const requireFromRoot = createRequire(new URL('../../package.json', import.meta.url));

export const graphql = requireFromRoot('graphql') as typeof import('graphql');
