import { federation, type CorpusCase } from './case.ts';

/**
 * Named and inline fragments, nested and overlapping, selecting fields
 * from both subgraphs: the response has each field once, in the order the
 * client's fragments first collect it.
 */
export const fragments: CorpusCase = {
  name: 'named and inline fragments',
  subgraphs: [
    {
      name: 'shop',
      typeDefs: `${federation('@key')}
        interface Item { id: ID! }
        type Query { items: [Item!]! }
        type Gadget implements Item @key(fields: "id") { id: ID! name: String! }
        type Gizmo implements Item @key(fields: "id") { id: ID! label: String! }`,
      resolvers: {
        Query: {
          items: () => [
            { __typename: 'Gadget', id: 'g1', name: 'Widget' },
            { __typename: 'Gizmo', id: 'z1', label: 'Sprocket' },
          ],
        },
        Item: { __resolveType: (value: { __typename: string }) => value.__typename },
      },
    },
    {
      name: 'reviews',
      typeDefs: `${federation('@key')}
        type Gadget @key(fields: "id") { id: ID! rating: Int! }
        type Gizmo @key(fields: "id") { id: ID! rating: Int! }`,
      resolvers: { Gadget: { rating: () => 4 }, Gizmo: { rating: () => 2 } },
    },
  ],
  operations: [
    {
      name: 'Overlapping',
      query: `query Overlapping {
        items {
          ...ItemCard
          ... on Gadget { rating name }
          ... { id }
        }
      }
      fragment ItemCard on Item {
        __typename
        ... on Gizmo { ...GizmoBits rating }
        ... on Gadget { ...Rated }
      }
      fragment GizmoBits on Gizmo { label id }
      fragment Rated on Gadget { rating }`,
      expected: {
        data: {
          items: [
            { __typename: 'Gadget', rating: 4, name: 'Widget', id: 'g1' },
            { __typename: 'Gizmo', label: 'Sprocket', id: 'z1', rating: 2 },
          ],
        },
      },
    },
  ],
};
