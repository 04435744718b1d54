import { federation, type CorpusCase } from './case.ts';

/**
 * `@override(from:)` without a label: the field moved to `pricing`, and the
 * old subgraph still resolves it, with a value that must never be seen.
 */
export const override: CorpusCase = {
  name: '@override without labels',
  subgraphs: [
    {
      name: 'catalog',
      typeDefs: `${federation('@key', '@shareable')}
        type Query { products: [Product!]! }
        type Product @key(fields: "id") { id: ID! name: String! price: Int! @shareable }`,
      resolvers: {
        Query: {
          products: () => [
            { id: 'p1', name: 'Kettle', price: -1 },
            { id: 'p2', name: 'Toaster', price: -1 },
          ],
        },
      },
    },
    {
      name: 'pricing',
      typeDefs: `${federation('@key', '@shareable', '@override')}
        type Product @key(fields: "id") { id: ID! price: Int! @shareable @override(from: "catalog") }`,
      resolvers: { Product: { price: ({ id }: { id: string }) => (id === 'p1' ? 2999 : 4599) } },
    },
  ],
  operations: [
    {
      name: 'Prices',
      query: '{ products { name price } }',
      expected: {
        data: {
          products: [
            { name: 'Kettle', price: 2999 },
            { name: 'Toaster', price: 4599 },
          ],
        },
      },
    },
  ],
};
