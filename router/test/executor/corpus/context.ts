import { federation, type CorpusCase } from './case.ts';

/**
 * `@context`/`@fromContext`: an item's price takes its currency from the
 * shop it is listed under, a value the shops subgraph owns. The executor
 * must fetch the currency, carry it down to every item under that shop, and
 * send it to the prices subgraph as the argument, per item: the same item
 * under two shops is priced twice, once in each currency.
 */
export const context: CorpusCase = {
  name: '@context and @fromContext',
  subgraphs: [
    {
      name: 'shops',
      typeDefs: `${federation('@key')}
        type Query { shops: [Shop!]! }
        type Shop @key(fields: "id") { id: ID! currency: String! }`,
      resolvers: {
        Query: { shops: () => [{ id: 's1' }, { id: 's2' }] },
        Shop: {
          __resolveReference: ({ id }: { id: string }) => ({ id }),
          currency: ({ id }: { id: string }) => (id === 's1' ? 'EUR' : 'USD'),
        },
      },
    },
    {
      name: 'prices',
      typeDefs: `${federation('@key', '@context', '@fromContext', '@external')}
        type Shop @key(fields: "id") @context(name: "shop") { id: ID! currency: String! @external items: [Item!]! }
        type Item @key(fields: "id") {
          id: ID!
          price(currency: String @fromContext(field: "$shop { currency }")): String!
        }`,
      resolvers: {
        Shop: { items: ({ id }: { id: string }) => (id === 's1' ? [{ id: 'i1' }, { id: 'i2' }] : [{ id: 'i1' }]) },
        Item: {
          __resolveReference: ({ id }: { id: string }) => ({ id }),
          price: ({ id }: { id: string }, { currency }: { currency: string | null }) =>
            `${id} in ${currency ?? 'none'}`,
        },
      },
    },
  ],
  operations: [
    {
      name: 'PricesInShopCurrency',
      query: '{ shops { id items { id price } } }',
      // Checked by hand: the stock gateway cannot run it.
      expected: {
        data: {
          shops: [
            {
              id: 's1',
              items: [
                { id: 'i1', price: 'i1 in EUR' },
                { id: 'i2', price: 'i2 in EUR' },
              ],
            },
            { id: 's2', items: [{ id: 'i1', price: 'i1 in USD' }] },
          ],
        },
      },
    },
  ],
  knownStockBugs: [
    {
      operation: '*',
      layer: 'gateway',
      why: 'A stock-only gap: @apollo/gateway refuses any supergraph that links the context spec, although its query planner plans `@fromContext` arguments (as `contextRewrites` on the entity fetch). An executor that loads the supergraph through ApolloGateway must lift that check to run this case.',
      stock: { refuses: 'feature https://specs.apollo.dev/context/v0.1 is for: SECURITY but is unsupported' },
    },
  ],
};
