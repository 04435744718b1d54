import { federation, type CorpusCase } from './case.ts';

const books = [
  { id: 'b1', title: 'Dune', author: 'Herbert' },
  { id: 'b2', title: 'Emma', author: 'Austen' },
];
const movies = [{ id: 'm1', title: 'Alien', director: 'Scott' }];

/**
 * `@provides` through an interface and through a union: the feed subgraph
 * already returns the titles, so a plan that honours `@provides` asks the
 * media subgraph only for what was not provided (the author), and the
 * executor must keep the provided values.
 */
export const providesAbstract: CorpusCase = {
  name: '@provides on interfaces and unions',
  subgraphs: [
    {
      name: 'media',
      typeDefs: `${federation('@key', '@shareable')}
        type Book @key(fields: "id") { id: ID! title: String! @shareable author: String! }
        type Movie @key(fields: "id") { id: ID! title: String! @shareable director: String! }`,
      resolvers: {
        Book: { __resolveReference: ({ id }: { id: string }) => books.find((b) => b.id === id) },
        Movie: { __resolveReference: ({ id }: { id: string }) => movies.find((m) => m.id === id) },
      },
    },
    {
      name: 'feed',
      typeDefs: `${federation('@key', '@external', '@provides')}
        interface Titled { id: ID! }
        union Pick = Book | Movie
        type Book implements Titled @key(fields: "id") { id: ID! title: String! @external }
        type Movie implements Titled @key(fields: "id") { id: ID! title: String! @external }
        type Query {
          recent: [Titled!]! @provides(fields: "... on Book { title } ... on Movie { title }")
          picks: [Pick!]! @provides(fields: "... on Book { title }")
        }`,
      resolvers: {
        Query: {
          // The feed's own copy of the titles; it is what a provided title must come from.
          recent: () => [
            { __typename: 'Book', id: 'b1', title: 'Dune (feed)' },
            { __typename: 'Movie', id: 'm1', title: 'Alien (feed)' },
          ],
          picks: () => [
            { __typename: 'Movie', id: 'm1' },
            { __typename: 'Book', id: 'b2', title: 'Emma (feed)' },
          ],
        },
        Titled: { __resolveType: (value: { __typename: string }) => value.__typename },
        Pick: { __resolveType: (value: { __typename: string }) => value.__typename },
      },
    },
  ],
  operations: [
    {
      name: 'RecentTitles',
      query: '{ recent { id ... on Book { title author } ... on Movie { title } } }',
      expected: {
        data: {
          recent: [
            { id: 'b1', title: 'Dune (feed)', author: 'Herbert' },
            { id: 'm1', title: 'Alien (feed)' },
          ],
        },
      },
    },
    {
      name: 'PickTitles',
      query: '{ picks { ... on Book { title author } ... on Movie { title director } } }',
      expected: {
        data: {
          picks: [
            { title: 'Alien', director: 'Scott' },
            { title: 'Emma (feed)', author: 'Austen' },
          ],
        },
      },
    },
  ],
};
