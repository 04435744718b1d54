import type { CodegenConfig } from '@graphql-codegen/cli';
import { subgraphs } from './subgraphs/registry.ts';

/**
 * Parent types of each subgraph's resolvers: the drizzle row (or loader
 * value) a resolver returns for a GraphQL type, so fields that need
 * computing are the only ones a resolver must write.
 */
const mappers: Record<string, Record<string, string>> = {
  accounts: {
    User: '../db/schema.ts#UserRow',
    UserConnection: '../../../../platform/src/graphql/pagination.ts#Connection<UserRow>',
  },
  products: {
    Product: '../db/schema.ts#ProductRow',
    Category: '../db/schema.ts#CategoryRow',
    ProductConnection: '../../../../platform/src/graphql/pagination.ts#Connection<ProductRow>',
  },
  inventory: {
    Product: '../model.ts#InventoryProduct',
  },
  reviews: {
    Review: '../db/schema.ts#ReviewRow',
    Product: '../model.ts#ReviewedProduct',
    User: '../model.ts#ReviewAuthor',
    ReviewConnection: '../../../../platform/src/graphql/pagination.ts#Connection<ReviewRow>',
  },
  orders: {
    Order: '../db/schema.ts#OrderRow',
    OrderItem: '../db/schema.ts#OrderItemRow',
    OrderConnection: '../../../../platform/src/graphql/pagination.ts#Connection<OrderRow>',
    User: '../model.ts#Customer',
    Product: '../model.ts#ProductReference',
  },
};

const config: CodegenConfig = {
  overwrite: true,
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
    // The public API schema as introspection JSON, for tools that cannot read SDL.
    'schema/api.introspection.json': {
      schema: 'schema/api.graphql',
      plugins: ['introspection'],
      config: { descriptions: true },
    },
    ...Object.fromEntries(
      subgraphs.map(({ name }) => [
        `subgraphs/${name}/src/__generated__/resolvers.ts`,
        {
          schema: `subgraphs/${name}/schema.graphql`,
          plugins: ['typescript', 'typescript-resolvers'],
          config: {
            federation: true,
            contextType: '../context.ts#Context',
            mappers: mappers[name] ?? {},
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
