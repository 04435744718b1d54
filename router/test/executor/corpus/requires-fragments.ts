import { federation, type CorpusCase } from './case.ts';

const items = [
  { id: 'i1', shape: { __typename: 'Circle', radius: 2 } },
  { id: 'i2', shape: { __typename: 'Square', side: 3 } },
];

/**
 * A `@requires` whose selection is abstract, with inline fragments per
 * type: the executor must send the required object with its `__typename`
 * and only the fields of its own type.
 */
export const requiresFragments: CorpusCase = {
  name: '@requires with fragments on the required selection',
  subgraphs: [
    {
      name: 'catalog',
      typeDefs: `${federation('@key', '@shareable')}
        type Query { items: [Item!]! }
        interface Shape { kind: String! }
        type Circle implements Shape @shareable { kind: String! radius: Float! }
        type Square implements Shape @shareable { kind: String! side: Float! }
        type Item @key(fields: "id") { id: ID! shape: Shape! }`,
      resolvers: {
        Query: { items: () => items },
        Item: { __resolveReference: ({ id }: { id: string }) => items.find((i) => i.id === id) },
        Circle: { kind: () => 'circle' },
        Square: { kind: () => 'square' },
      },
    },
    {
      name: 'packing',
      typeDefs: `${federation('@key', '@shareable', '@requires', '@external')}
        interface Shape { kind: String! }
        type Circle implements Shape @shareable { kind: String! radius: Float! }
        type Square implements Shape @shareable { kind: String! side: Float! }
        type Item @key(fields: "id") {
          id: ID!
          shape: Shape! @external
          area: Float! @requires(fields: "shape { ... on Circle { radius } ... on Square { side } }")
        }`,
      resolvers: {
        Item: {
          area: ({ shape }: { shape: { __typename: string; radius?: number; side?: number } }) => {
            if (shape.__typename === 'Circle') {
              if (shape.side !== undefined) throw new Error('a Circle was sent a Square field');
              return Math.round(Math.PI * (shape.radius ?? 0) ** 2 * 100) / 100;
            }
            if (shape.radius !== undefined) throw new Error('a Square was sent a Circle field');
            return (shape.side ?? 0) ** 2;
          },
        },
      },
    },
  ],
  operations: [
    {
      name: 'Areas',
      query: '{ items { id area shape { kind } } }',
      expected: {
        data: {
          items: [
            { id: 'i1', area: 12.57, shape: { kind: 'circle' } },
            { id: 'i2', area: 9, shape: { kind: 'square' } },
          ],
        },
      },
    },
  ],
  knownStockBugs: [
    {
      operation: 'Areas',
      layer: 'executor',
      why: 'The representation carries the required `shape` without its `__typename` (`{ radius: 2 }`), although the executor fetched it and picked the fragment by it: the subgraph is handed an interface value it cannot tell the type of. The executor should keep `__typename` on every abstract-typed object it puts in a representation.',
      stock: {
        answer: {
          data: null,
          errors: [
            {
              message: 'a Square was sent a Circle field',
              path: ['items', 0, 'area'],
              code: 'DOWNSTREAM_SERVICE_ERROR',
            },
          ],
        },
      },
    },
  ],
};
