import { federation, type CorpusCase } from './case.ts';

/**
 * Four hops across three subgraphs and back: user (accounts) → orders
 * (orders) → product (catalog) → seller (accounts) → their orders again.
 * Each hop depends on the one before, so the plan is a sequence of entity
 * fetches whose results merge at ever deeper paths.
 */
export const deepNesting: CorpusCase = {
  name: 'deep nesting across subgraphs',
  subgraphs: [
    {
      name: 'accounts',
      typeDefs: `${federation('@key')}
        type Query { me: User }
        type User @key(fields: "id") { id: ID! name: String! }`,
      resolvers: {
        Query: { me: () => ({ id: 'u1', name: 'Ada' }) },
        User: { __resolveReference: ({ id }: { id: string }) => ({ id, name: id === 'u1' ? 'Ada' : 'Seller Sam' }) },
      },
    },
    {
      name: 'orders',
      typeDefs: `${federation('@key')}
        type User @key(fields: "id") { id: ID! orders: [Order!]! }
        type Order { number: String! product: Product! }
        type Product @key(fields: "id") { id: ID! }`,
      resolvers: {
        User: {
          orders: ({ id }: { id: string }) =>
            id === 'u1'
              ? [
                  { number: 'A-1', product: { id: 'p1' } },
                  { number: 'A-2', product: { id: 'p2' } },
                ]
              : [{ number: 'S-9', product: { id: 'p2' } }],
        },
      },
    },
    {
      name: 'catalog',
      typeDefs: `${federation('@key')}
        type Product @key(fields: "id") { id: ID! name: String! seller: User! rating: Int }
        type User @key(fields: "id") { id: ID! }`,
      resolvers: {
        Product: {
          name: ({ id }: { id: string }) => (id === 'p1' ? 'Kettle' : 'Toaster'),
          seller: ({ id }: { id: string }) => ({ id: id === 'p1' ? 'u1' : 'u9' }),
          rating: ({ id }: { id: string }) => {
            if (id === 'p2') throw new Error('no rating for p2');
            return 5;
          },
        },
      },
    },
  ],
  operations: [
    {
      name: 'FourHops',
      query: `{ me { name orders { number product { name seller { name orders { number product { name } } } } } } }`,
      expected: {
        data: {
          me: {
            name: 'Ada',
            orders: [
              {
                number: 'A-1',
                product: {
                  name: 'Kettle',
                  seller: {
                    name: 'Ada',
                    orders: [
                      { number: 'A-1', product: { name: 'Kettle' } },
                      { number: 'A-2', product: { name: 'Toaster' } },
                    ],
                  },
                },
              },
              {
                number: 'A-2',
                product: {
                  name: 'Toaster',
                  seller: { name: 'Seller Sam', orders: [{ number: 'S-9', product: { name: 'Toaster' } }] },
                },
              },
            ],
          },
        },
      },
    },
    {
      name: 'ErrorFourHopsDown',
      query: '{ me { orders { product { seller { orders { number product { rating } } } } } } }',
      expected: {
        data: {
          me: {
            orders: [
              {
                product: {
                  seller: {
                    orders: [
                      { number: 'A-1', product: { rating: 5 } },
                      { number: 'A-2', product: { rating: null } },
                    ],
                  },
                },
              },
              { product: { seller: { orders: [{ number: 'S-9', product: { rating: null } }] } } },
            ],
          },
        },
        errors: [
          {
            message: 'no rating for p2',
            path: ['me', 'orders', 0, 'product', 'seller', 'orders', 1, 'product', 'rating'],
            code: 'DOWNSTREAM_SERVICE_ERROR',
          },
          {
            message: 'no rating for p2',
            path: ['me', 'orders', 1, 'product', 'seller', 'orders', 0, 'product', 'rating'],
            code: 'DOWNSTREAM_SERVICE_ERROR',
          },
        ],
      },
    },
  ],
};
