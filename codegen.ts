import { createRequire } from 'node:module';
import type { CodegenConfig } from '@graphql-codegen/cli';
import * as operationsReport from './scripts/codegen/operations-report.ts';
import { loadManifest, subgraphs } from './subgraphs/registry.ts';

/** Plugins written here, by the name `generates` uses; the rest come from node_modules. */
const localPlugins: Record<string, unknown> = { 'operations-report': operationsReport };
const requireFromHere = createRequire(import.meta.url);

/**
 * Parent types of each subgraph's resolvers, from its own manifest: the
 * drizzle row (or loader value) a resolver returns for a GraphQL type, so
 * fields that need computing are the only ones a resolver must write.
 */
const manifests = await Promise.all(subgraphs.map(async ({ name }) => ({ name, ...(await loadManifest(name)) })));

const config: CodegenConfig = {
  overwrite: true,
  // Codegen requires plugins by name, which a TypeScript file cannot be under plain Node.
  pluginLoader: (name: string) => localPlugins[name] ?? requireFromHere(name),
  generates: {
    // Typed client operations for the shop frontend, against the composed
    // API schema, and the persisted-operations manifest the router's
    // trusted documents load (`{ "<sha256>": "<document>" }`).
    'operations/__generated__/': {
      schema: 'schema/api.graphql',
      documents: ['operations/**/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: 'sha256' } },
      config: {
        scalars: { DateTime: 'string' },
        importExtension: '.ts',
        useTypeImports: true,
        enumsAsTypes: true,
      },
    },
    // Typed documents for the tests that go through the router: `graphql(...)`
    // in these files returns a document whose result and variables are typed.
    'test/__generated__/': {
      schema: 'schema/api.graphql',
      documents: ['test/shop-graph.int.test.ts', 'test/place-order.int.test.ts'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { DateTime: 'string' },
        importExtension: '.ts',
        useTypeImports: true,
        enumsAsTypes: true,
      },
    },
    // Per operation: subgraphs, fetches, cost, cache policy, deprecations.
    // Its diff in a pull request shows a query turning private or slower.
    'schema/operations.json': {
      schema: 'schema/api.graphql',
      documents: ['operations/**/*.graphql'],
      plugins: ['operations-report'],
    },
    'schema/operations.md': {
      schema: 'schema/api.graphql',
      documents: ['operations/**/*.graphql'],
      plugins: ['operations-report'],
      config: { format: 'markdown' },
    },
    // The public API schema as introspection JSON, for tools that cannot read SDL.
    'schema/api.introspection.json': {
      schema: 'schema/api.graphql',
      plugins: ['introspection'],
      config: { descriptions: true },
    },
    ...Object.fromEntries(
      manifests.map(({ name, codegenMappers }) => [
        `subgraphs/${name}/src/__generated__/resolvers.ts`,
        {
          schema: `subgraphs/${name}/schema.graphql`,
          plugins: ['typescript', 'typescript-resolvers'],
          config: {
            federation: true,
            contextType: '../context.ts#Context',
            mappers: codegenMappers,
            scalars: { DateTime: { input: 'Date', output: 'Date | string' } },
            useTypeImports: true,
            enumsAsTypes: true,
            useIndexSignature: true,
            avoidOptionals: false,
            immutableTypes: false,
          },
        },
      ]),
    ),
  },
};

export default config;
