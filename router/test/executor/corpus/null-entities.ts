import { federation, valueCompletionInExtensions, type CorpusCase } from './case.ts';

/**
 * Nulls at every place an entity can be missing: a null reference (the
 * parent field is null), a null key field, and an entity the owning
 * subgraph does not find (null from `__resolveReference`), under a nullable
 * and under a non-null field. An entity that is not found keeps the fields
 * its parent subgraph gave it and gets null for the rest (`author: { name:
 * null }`), as the stock executor does. (It also sends the null key
 * to the subgraph as a representation, `{ id: null }`: wasteful, not wrong.)
 */
export const nullEntities: CorpusCase = {
  name: 'null keys and null entities',
  subgraphs: [
    {
      name: 'posts',
      typeDefs: `${federation('@key')}
        type Query { posts: [Post!]! }
        type Post { id: ID! author: Author editor: Author }
        type Author @key(fields: "id") { id: ID }`,
      resolvers: {
        Query: {
          posts: () => [
            { id: 'a', author: { id: 'u1' }, editor: null },
            { id: 'b', author: { id: 'gone' }, editor: { id: null } },
            { id: 'c', author: null, editor: { id: 'u1' } },
          ],
        },
      },
    },
    {
      name: 'people',
      typeDefs: `${federation('@key')}
        type Author @key(fields: "id") { id: ID name: String strictName: String! }`,
      resolvers: {
        Author: {
          __resolveReference: ({ id }: { id: string | null }) => (id === 'u1' ? { id, name: 'Ada' } : null),
          strictName: (author: { name: string }) => author.name,
        },
      },
    },
  ],
  operations: [
    {
      name: 'Names',
      query: '{ posts { id author { name } editor { id name } } }',
      expected: {
        data: {
          posts: [
            { id: 'a', author: { name: 'Ada' }, editor: null },
            { id: 'b', author: { name: null }, editor: { id: null, name: null } },
            { id: 'c', author: null, editor: { id: 'u1', name: 'Ada' } },
          ],
        },
      },
    },
    {
      name: 'StrictNames',
      query: '{ posts { id author { strictName } } }',
      expected: {
        data: {
          posts: [
            { id: 'a', author: { strictName: 'Ada' } },
            { id: 'b', author: null },
            { id: 'c', author: null },
          ],
        },
        // 'gone' is not found, so its non-null strictName is missing: graphql-js would say so at that path.
        // A subgraph breaking its schema's contract is an internal fault, with no code of the executor's own.
        errors: [
          {
            message: 'Cannot return null for non-nullable field Author.strictName.',
            path: ['posts', 1, 'author', 'strictName'],
            code: 'INTERNAL_SERVER_ERROR',
          },
        ],
      },
    },
  ],
  knownStockBugs: [
    {
      operation: 'StrictNames',
      layer: 'executor',
      why: valueCompletionInExtensions,
      stock: {
        answer: {
          data: {
            posts: [
              { id: 'a', author: { strictName: 'Ada' } },
              { id: 'b', author: null },
              { id: 'c', author: null },
            ],
          },
        },
      },
    },
  ],
};
