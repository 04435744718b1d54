import { federation, type CorpusCase } from './case.ts';

const products = [
  { id: 'p1', name: 'Kettle' },
  { id: 'p2', name: 'Toaster' },
];
const reviews = [
  { id: 'r1', productId: 'p1', body: 'Boils' },
  { id: 'r2', productId: 'p1', body: 'Loud' },
  { id: 'r3', productId: 'p2', body: 'Burns' },
];

/** The plainest entity join: one `@key` field, one hop each way. */
export const entitySingleKey: CorpusCase = {
  name: 'entity with a single key',
  subgraphs: [
    {
      name: 'products',
      typeDefs: `${federation('@key')}
        type Query { products: [Product!]! product(id: ID!): Product }
        type Product @key(fields: "id") { id: ID! name: String! }`,
      resolvers: {
        Query: {
          products: () => products,
          product: (_: unknown, { id }: { id: string }) => products.find((p) => p.id === id),
        },
        Product: { __resolveReference: ({ id }: { id: string }) => products.find((p) => p.id === id) },
      },
    },
    {
      name: 'reviews',
      typeDefs: `${federation('@key')}
        type Query { reviews: [Review!]! }
        type Review { id: ID! body: String! product: Product! }
        type Product @key(fields: "id") { id: ID! reviews: [Review!]! }`,
      resolvers: {
        Query: { reviews: () => reviews },
        Review: { product: (review: { productId: string }) => ({ id: review.productId }) },
        Product: { reviews: ({ id }: { id: string }) => reviews.filter((r) => r.productId === id) },
      },
    },
  ],
  operations: [
    {
      name: 'ProductsWithReviews',
      query: '{ products { name reviews { body } id } }',
      expected: {
        data: {
          products: [
            { name: 'Kettle', reviews: [{ body: 'Boils' }, { body: 'Loud' }], id: 'p1' },
            { name: 'Toaster', reviews: [{ body: 'Burns' }], id: 'p2' },
          ],
        },
      },
    },
    {
      name: 'ReviewsWithProduct',
      query: '{ reviews { body product { id name } } }',
      expected: {
        data: {
          reviews: [
            { body: 'Boils', product: { id: 'p1', name: 'Kettle' } },
            { body: 'Loud', product: { id: 'p1', name: 'Kettle' } },
            { body: 'Burns', product: { id: 'p2', name: 'Toaster' } },
          ],
        },
      },
    },
    {
      name: 'MissingProduct',
      query: 'query MissingProduct($id: ID!) { product(id: $id) { name reviews { body } } }',
      variables: { id: 'nope' },
      expected: { data: { product: null } },
    },
  ],
};
