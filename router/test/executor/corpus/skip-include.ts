import { federation, type CorpusCase } from './case.ts';

const users = [
  { id: 'u1', name: 'Ada' },
  { id: 'u2', name: 'Alan' },
];

const activity = `query Activity($withActivity: Boolean!, $withoutBadges: Boolean!) {
  users {
    name
    lastSeen @include(if: $withActivity)
    ... @skip(if: $withoutBadges) { badges }
    ...Seen @include(if: $withActivity)
  }
}
fragment Seen on User { seenAgain: lastSeen }`;

/**
 * `@skip`/`@include` with variables on the fields and fragments that start
 * another subgraph's fetch: a skipped field or fragment is absent from the
 * answer however the executor gets there (the stock one still sends the
 * entity fetch, with the directives in it, when conditions differ), and an
 * included one behaves as if the directive were absent.
 */
export const skipInclude: CorpusCase = {
  name: '@skip/@include on fetch boundaries',
  subgraphs: [
    {
      name: 'users',
      typeDefs: `${federation('@key')}
        type Query { users: [User!]! }
        type User @key(fields: "id") { id: ID! name: String! }`,
      resolvers: { Query: { users: () => users } },
    },
    {
      name: 'activity',
      typeDefs: `${federation('@key')}
        type User @key(fields: "id") { id: ID! lastSeen: String! badges: [String!]! }`,
      resolvers: {
        User: {
          lastSeen: ({ id }: { id: string }) => (id === 'u1' ? 'today' : 'never'),
          badges: ({ id }: { id: string }) => (id === 'u1' ? ['early'] : []),
        },
      },
    },
  ],
  operations: [
    {
      name: 'IncludeActivityKeepBadges',
      query: activity,
      variables: { withActivity: true, withoutBadges: false },
      expected: {
        data: {
          users: [
            { name: 'Ada', lastSeen: 'today', badges: ['early'], seenAgain: 'today' },
            { name: 'Alan', lastSeen: 'never', badges: [], seenAgain: 'never' },
          ],
        },
      },
    },
    {
      name: 'ExcludeActivitySkipBadges',
      query: activity,
      variables: { withActivity: false, withoutBadges: true },
      expected: { data: { users: [{ name: 'Ada' }, { name: 'Alan' }] } },
    },
    {
      name: 'IncludeActivitySkipBadges',
      query: activity,
      variables: { withActivity: true, withoutBadges: true },
      expected: {
        data: {
          users: [
            { name: 'Ada', lastSeen: 'today', seenAgain: 'today' },
            { name: 'Alan', lastSeen: 'never', seenAgain: 'never' },
          ],
        },
      },
    },
    {
      name: 'DefaultedVariable',
      query: `query DefaultedVariable($withActivity: Boolean = false) { users { name lastSeen @include(if: $withActivity) } }`,
      expected: { data: { users: [{ name: 'Ada' }, { name: 'Alan' }] } },
    },
    {
      name: 'EverythingSkipped',
      query: 'query EverythingSkipped($skip: Boolean!) { users @skip(if: $skip) { name } }',
      variables: { skip: true },
      expected: { data: {} },
    },
  ],
};
