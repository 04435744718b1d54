import { federation, type CorpusCase } from './case.ts';

/**
 * A union whose members are entities completed by another subgraph, the
 * union itself declared in both: type conditions select per member, and a
 * member the client did not ask about stays an empty object.
 */
export const unionsAcross: CorpusCase = {
  name: 'unions spread across subgraphs',
  subgraphs: [
    {
      name: 'search',
      typeDefs: `${federation('@key')}
        union Result = Person | Place
        type Person @key(fields: "id") { id: ID! }
        type Place @key(fields: "id") { id: ID! }
        type Query { search(term: String!): [Result!]! }`,
      resolvers: {
        Query: {
          search: () => [
            { __typename: 'Place', id: 'pl1' },
            { __typename: 'Person', id: 'pe1' },
            { __typename: 'Place', id: 'pl2' },
          ],
        },
        Result: { __resolveType: (value: { __typename: string }) => value.__typename },
      },
    },
    {
      name: 'people',
      typeDefs: `${federation('@key')}
        type Person @key(fields: "id") { id: ID! name: String! }`,
      resolvers: { Person: { name: ({ id }: { id: string }) => `person ${id}` } },
    },
    {
      name: 'places',
      typeDefs: `${federation('@key')}
        type Place @key(fields: "id") { id: ID! city: String! }`,
      resolvers: { Place: { city: ({ id }: { id: string }) => (id === 'pl1' ? 'Lisbon' : 'Berlin') } },
    },
  ],
  operations: [
    {
      name: 'Search',
      query: '{ search(term: "x") { __typename ... on Person { name } ... on Place { id city } } }',
      expected: {
        data: {
          search: [
            { __typename: 'Place', id: 'pl1', city: 'Lisbon' },
            { __typename: 'Person', name: 'person pe1' },
            { __typename: 'Place', id: 'pl2', city: 'Berlin' },
          ],
        },
      },
    },
    {
      name: 'PeopleOnly',
      query: '{ search(term: "x") { ... on Person { name } } }',
      expected: { data: { search: [{}, { name: 'person pe1' }, {}] } },
    },
  ],
};
