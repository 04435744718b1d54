import { federation, type CorpusCase } from './case.ts';

const users = [
  { id: 'u1', email: 'ada@example.com', name: 'Ada' },
  { id: 'u2', email: 'alan@example.com', name: 'Alan' },
];

/**
 * Two keys on one entity, and subgraphs that each know only one of them: to
 * get from `newsletter` (by email) to `billing` (by id) the plan must pass
 * through `accounts`, which knows both.
 */
export const entityMultipleKeys: CorpusCase = {
  name: 'entity with multiple keys',
  subgraphs: [
    {
      name: 'accounts',
      typeDefs: `${federation('@key')}
        type User @key(fields: "id") @key(fields: "email") { id: ID! email: String! name: String! }`,
      resolvers: {
        User: {
          __resolveReference: (ref: { id?: string; email?: string }) =>
            users.find((u) => (ref.id ? u.id === ref.id : u.email === ref.email)),
        },
      },
    },
    {
      name: 'newsletter',
      typeDefs: `${federation('@key')}
        type Query { subscribers: [User!]! }
        type User @key(fields: "email", resolvable: false) { email: String! }`,
      resolvers: {
        Query: { subscribers: () => [{ email: 'alan@example.com' }, { email: 'ada@example.com' }] },
      },
    },
    {
      name: 'billing',
      typeDefs: `${federation('@key')}
        type User @key(fields: "id") { id: ID! plan: String! }`,
      resolvers: {
        User: { plan: ({ id }: { id: string }) => (id === 'u1' ? 'PRO' : 'FREE') },
      },
    },
  ],
  operations: [
    {
      name: 'SubscriberPlans',
      query: '{ subscribers { email plan name } }',
      expected: {
        data: {
          subscribers: [
            { email: 'alan@example.com', plan: 'FREE', name: 'Alan' },
            { email: 'ada@example.com', plan: 'PRO', name: 'Ada' },
          ],
        },
      },
    },
  ],
};
