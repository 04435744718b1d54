import { federation, type CorpusCase } from './case.ts';

/**
 * One field aliased twice with different arguments, on an entity another
 * subgraph completes, plus an alias on the entity field itself: the
 * executor must keep the two results apart and put each under its alias,
 * whatever aliases it gives them in the subgraph operation. An alias that
 * is the name of the entity's key makes the plan drop the client's field:
 * the own executor corrects it (router/src/executor/corrected-plan.ts).
 */
export const aliases: CorpusCase = {
  name: 'aliases across entity boundaries',
  subgraphs: [
    {
      name: 'products',
      typeDefs: `${federation('@key')}
        type Query { product(id: ID!): Product }
        type Product @key(fields: "id") { id: ID! name: String! }`,
      resolvers: { Query: { product: (_: unknown, { id }: { id: string }) => ({ id, name: `name of ${id}` }) } },
    },
    {
      name: 'prices',
      typeDefs: `${federation('@key')}
        type Product @key(fields: "id") { id: ID! price(currency: String! = "EUR"): String! }`,
      resolvers: {
        Product: {
          price: ({ id }: { id: string }, { currency }: { currency: string }) => `${id} in ${currency}`,
        },
      },
    },
  ],
  operations: [
    {
      name: 'TwoPrices',
      query: `{
        first: product(id: "p1") { euro: price(currency: "EUR") dollar: price(currency: "USD") name }
        second: product(id: "p2") { price dollar: price(currency: "USD") title: name }
      }`,
      expected: {
        data: {
          first: { euro: 'p1 in EUR', dollar: 'p1 in USD', name: 'name of p1' },
          second: { price: 'p2 in EUR', dollar: 'p2 in USD', title: 'name of p2' },
        },
      },
    },
    {
      name: 'AliasShadowsField',
      query: '{ product(id: "p3") { name: price(currency: "GBP") price: name id: name } }',
      expected: { data: { product: { name: 'p3 in GBP', price: 'name of p3', id: 'name of p3' } } },
    },
    {
      // The entity field first: the alias still shadows the key the entity fetch needs.
      name: 'AliasShadowsKeyAfterEntityField',
      query: '{ product(id: "p3") { price id: name } }',
      expected: { data: { product: { price: 'p3 in EUR', id: 'name of p3' } } },
    },
    {
      // The alias comes from the other subgraph: its entity fetch runs after the key is read.
      name: 'AliasFromEntityFetchShadowsKey',
      query: '{ product(id: "p3") { id: price } }',
      expected: { data: { product: { id: 'p3 in EUR' } } },
    },
    {
      name: 'TypenameAliases',
      query: '{ product(id: "p1") { kind: __typename price __typename again: __typename } }',
      expected: { data: { product: { kind: 'Product', price: 'p1 in EUR', __typename: 'Product', again: 'Product' } } },
    },
  ],
  knownStockBugs: [
    {
      operation: 'AliasShadowsField',
      layer: 'query planner',
      why: "The client's `id: name` has the response name of the key field `id` the plan adds for the entity fetch: the plan selects `id` once, drops the client's alias, and the client gets the key where it asked for the name.",
      stock: { answer: { data: { product: { name: 'p3 in GBP', price: 'name of p3', id: 'p3' } } } },
    },
    {
      operation: 'AliasShadowsKeyAfterEntityField',
      layer: 'query planner',
      why: "As AliasShadowsField: the plan selects the key `id` once and drops the client's `id: name`.",
      stock: { answer: { data: { product: { price: 'p3 in EUR', id: 'p3' } } } },
    },
  ],
};
