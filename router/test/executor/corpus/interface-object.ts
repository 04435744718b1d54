import { federation, type CorpusCase } from './case.ts';

/**
 * `@interfaceObject`: a subgraph adds a field to every implementation of an
 * interface without knowing the types. Its answers carry the interface's
 * name as `__typename`, which the executor must never show a client: the
 * real type comes from the subgraph that owns the interface.
 */
export const interfaceObject: CorpusCase = {
  name: '@interfaceObject',
  subgraphs: [
    {
      name: 'accounts',
      typeDefs: `${federation('@key')}
        interface Account @key(fields: "id") { id: ID! }
        type Person implements Account @key(fields: "id") { id: ID! name: String! }
        type Company implements Account @key(fields: "id") { id: ID! vatId: String! }
        type Query { accounts: [Account!]! }`,
      resolvers: {
        Query: {
          accounts: () => [
            { __typename: 'Company', id: 'c1', vatId: 'DE1' },
            { __typename: 'Person', id: 'p1', name: 'Ada' },
          ],
        },
        Account: {
          __resolveType: (value: { __typename: string }) => value.__typename,
          __resolveReference: ({ id }: { id: string }) =>
            id.startsWith('c')
              ? { __typename: 'Company', id, vatId: 'DE1' }
              : { __typename: 'Person', id, name: 'Ada' },
        },
      },
    },
    {
      name: 'loyalty',
      typeDefs: `${federation('@key', '@interfaceObject')}
        type Account @key(fields: "id") @interfaceObject { id: ID! points: Int! }
        type Query { topAccount: Account! }`,
      resolvers: {
        Query: { topAccount: () => ({ id: 'p1' }) },
        Account: {
          __resolveReference: ({ id }: { id: string }) => ({ id }),
          points: ({ id }: { id: string }) => (id === 'c1' ? 900 : 120),
        },
      },
    },
  ],
  operations: [
    {
      name: 'AccountsWithPoints',
      query: '{ accounts { __typename id points ... on Person { name } } }',
      expected: {
        data: {
          accounts: [
            { __typename: 'Company', id: 'c1', points: 900 },
            { __typename: 'Person', id: 'p1', points: 120, name: 'Ada' },
          ],
        },
      },
    },
    {
      name: 'TopAccount',
      query: '{ topAccount { __typename points ... on Person { name } ... on Company { vatId } } }',
      expected: { data: { topAccount: { __typename: 'Person', points: 120, name: 'Ada' } } },
    },
    { name: 'PointsOnly', query: '{ topAccount { points } }', expected: { data: { topAccount: { points: 120 } } } },
  ],
};
