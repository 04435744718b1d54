import { federation, type CorpusCase } from './case.ts';

/**
 * A list in which the same entity appears several times: each occurrence
 * gets the entity's fields, in place, whether or not the executor sends
 * the duplicate representation more than once.
 */
export const entityListDuplicates: CorpusCase = {
  name: 'lists of entities with duplicates',
  subgraphs: [
    {
      name: 'playlists',
      typeDefs: `${federation('@key')}
        type Query { playlist: [Song!]! }
        type Song @key(fields: "id") { id: ID! }`,
      resolvers: { Query: { playlist: () => ['s1', 's2', 's1', 's1', 's3', 's2'].map((id) => ({ id })) } },
    },
    {
      name: 'songs',
      typeDefs: `${federation('@key')}
        type Song @key(fields: "id") { id: ID! title: String! }`,
      resolvers: {
        Song: {
          __resolveReference: ({ id }: { id: string }) => ({ id, title: `title ${id}` }),
        },
      },
    },
  ],
  operations: [
    {
      name: 'Playlist',
      query: '{ playlist { title id } }',
      expected: {
        data: {
          playlist: [
            { title: 'title s1', id: 's1' },
            { title: 'title s2', id: 's2' },
            { title: 'title s1', id: 's1' },
            { title: 'title s1', id: 's1' },
            { title: 'title s3', id: 's3' },
            { title: 'title s2', id: 's2' },
          ],
        },
      },
    },
  ],
};
