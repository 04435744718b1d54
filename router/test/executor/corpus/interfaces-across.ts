import { federation, type CorpusCase } from './case.ts';

/**
 * An entity interface whose implementations live in different subgraphs,
 * each adding its own fields: the executor must dispatch entity fetches by
 * each object's `__typename`, and leave other types' objects alone.
 */
export const interfacesAcross: CorpusCase = {
  name: 'interfaces spread across subgraphs',
  subgraphs: [
    {
      name: 'library',
      typeDefs: `${federation('@key')}
        interface Node @key(fields: "id") { id: ID! }
        type Book implements Node @key(fields: "id") { id: ID! title: String! }
        type Album implements Node @key(fields: "id") { id: ID! title: String! }
        type Query { nodes: [Node!]! }`,
      resolvers: {
        Query: {
          nodes: () => [
            { __typename: 'Book', id: 'b1', title: 'Dune' },
            { __typename: 'Album', id: 'a1', title: 'Blue' },
            { __typename: 'Book', id: 'b2', title: 'Emma' },
          ],
        },
        Node: {
          __resolveType: (value: { __typename: string }) => value.__typename,
          __resolveReference: (ref: { id: string }) => ({
            __typename: ref.id.startsWith('b') ? 'Book' : 'Album',
            id: ref.id,
            title: ref.id === 'a1' ? 'Blue' : ref.id === 'b1' ? 'Dune' : 'Emma',
          }),
        },
      },
    },
    {
      name: 'shelves',
      typeDefs: `${federation('@key')}
        type Book @key(fields: "id") { id: ID! pages: Int! }
        type Album @key(fields: "id") { id: ID! tracks: Int! }`,
      resolvers: {
        Book: { pages: ({ id }: { id: string }) => (id === 'b1' ? 412 : 474) },
        Album: { tracks: () => 10 },
      },
    },
  ],
  operations: [
    {
      name: 'NodesByType',
      query: '{ nodes { __typename id ... on Book { pages title } ... on Album { tracks } } }',
      expected: {
        data: {
          nodes: [
            { __typename: 'Book', id: 'b1', pages: 412, title: 'Dune' },
            { __typename: 'Album', id: 'a1', tracks: 10 },
            { __typename: 'Book', id: 'b2', pages: 474, title: 'Emma' },
          ],
        },
      },
    },
    {
      name: 'OnlyBooks',
      query: '{ nodes { ... on Book { pages } } }',
      expected: { data: { nodes: [{ pages: 412 }, {}, { pages: 474 }] } },
    },
  ],
};
