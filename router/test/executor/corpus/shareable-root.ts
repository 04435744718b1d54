import { federation, type CorpusCase } from './case.ts';

const currencies = [
  { code: 'EUR', symbol: '€' },
  { code: 'USD', symbol: '$' },
];

/**
 * A root field two subgraphs both resolve (`@shareable`): the plan picks
 * one of them and never asks both, and fields only the other one has come
 * from it in a second fetch.
 */
export const shareableRoot: CorpusCase = {
  name: '@shareable root fields',
  subgraphs: [
    {
      name: 'money',
      typeDefs: `${federation('@key', '@shareable')}
        type Query { currencies: [Currency!]! @shareable }
        type Currency @key(fields: "code") { code: String! symbol: String! }`,
      resolvers: {
        Query: { currencies: () => currencies },
        Currency: { __resolveReference: ({ code }: { code: string }) => currencies.find((c) => c.code === code) },
      },
    },
    {
      name: 'rates',
      typeDefs: `${federation('@key', '@shareable')}
        type Query { currencies: [Currency!]! @shareable }
        type Currency @key(fields: "code") { code: String! perEuro: Float! }`,
      resolvers: {
        Query: { currencies: () => currencies },
        Currency: { perEuro: ({ code }: { code: string }) => (code === 'EUR' ? 1 : 1.08) },
      },
    },
  ],
  operations: [
    {
      name: 'Symbols',
      query: '{ currencies { code symbol } }',
      expected: {
        data: {
          currencies: [
            { code: 'EUR', symbol: '€' },
            { code: 'USD', symbol: '$' },
          ],
        },
      },
    },
    {
      name: 'Rates',
      query: '{ currencies { code perEuro } }',
      expected: {
        data: {
          currencies: [
            { code: 'EUR', perEuro: 1 },
            { code: 'USD', perEuro: 1.08 },
          ],
        },
      },
    },
    {
      name: 'Both',
      query: '{ currencies { symbol perEuro } }',
      expected: {
        data: {
          currencies: [
            { symbol: '€', perEuro: 1 },
            { symbol: '$', perEuro: 1.08 },
          ],
        },
      },
    },
  ],
};
