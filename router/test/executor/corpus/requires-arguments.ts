import { federation, type CorpusCase } from './case.ts';

const parcels = [
  { id: 'a', grams: 1500 },
  { id: 'b', grams: 250 },
];

/**
 * `@requires` on a field that takes arguments, requiring a field that takes
 * arguments: the executor must fetch the required field with the arguments
 * the `@requires` names (not the client's), and pass the client's
 * arguments to the requiring field. Where the client selects the required
 * field too, with other arguments, the plan keeps one of the two under the
 * shared key: the own executor corrects it (router/src/executor/corrected-plan.ts).
 */
export const requiresArguments: CorpusCase = {
  name: '@requires with field arguments',
  subgraphs: [
    {
      name: 'parcels',
      typeDefs: `${federation('@key', '@shareable')}
        enum WeightUnit { GRAM KILOGRAM }
        type Query { parcels: [Parcel!]! }
        type Parcel @key(fields: "id") { id: ID! weight(unit: WeightUnit! = GRAM): Float! }`,
      resolvers: {
        Query: { parcels: () => parcels },
        Parcel: {
          __resolveReference: ({ id }: { id: string }) => parcels.find((p) => p.id === id),
          weight: (parcel: { grams: number }, { unit }: { unit: string }) =>
            unit === 'KILOGRAM' ? parcel.grams / 1000 : parcel.grams,
        },
      },
    },
    {
      name: 'shipping',
      typeDefs: `${federation('@key', '@requires', '@external')}
        enum WeightUnit { GRAM KILOGRAM }
        type Parcel @key(fields: "id") {
          id: ID!
          weight(unit: WeightUnit! = GRAM): Float! @external
          cost(express: Boolean! = false): Int! @requires(fields: "weight(unit: KILOGRAM)")
        }`,
      resolvers: {
        Parcel: {
          cost: (parcel: { weight: number }, { express }: { express: boolean }) =>
            Math.ceil(parcel.weight) * (express ? 10 : 4),
        },
      },
    },
  ],
  operations: [
    {
      name: 'CostsAndGrams',
      query: '{ parcels { id weight cost(express: true) standard: cost } }',
      expected: {
        data: {
          parcels: [
            { id: 'a', weight: 1500, cost: 20, standard: 8 },
            { id: 'b', weight: 250, cost: 10, standard: 4 },
          ],
        },
      },
    },
    {
      name: 'CostsOnly',
      query: '{ parcels { cost } }',
      expected: { data: { parcels: [{ cost: 8 }, { cost: 4 }] } },
    },
    {
      // The client's `weight` after the requiring field: the plan keeps the required kilograms under the client's key.
      name: 'CostsThenGrams',
      query: '{ parcels { cost weight } }',
      expected: {
        data: {
          parcels: [
            { cost: 8, weight: 1500 },
            { cost: 4, weight: 250 },
          ],
        },
      },
    },
    {
      // The same with the client's argument a variable, which the corrected fetch must declare.
      name: 'CostsThenChosenUnit',
      query: 'query ($unit: WeightUnit!) { parcels { cost weight(unit: $unit) } }',
      variables: { unit: 'GRAM' },
      expected: {
        data: {
          parcels: [
            { cost: 8, weight: 1500 },
            { cost: 4, weight: 250 },
          ],
        },
      },
    },
  ],
  knownStockBugs: [
    {
      operation: 'CostsAndGrams',
      layer: 'query planner',
      why: 'The client selects `weight` (grams) and the `@requires` needs `weight(unit: KILOGRAM)`: the plan fetches `weight` once, without the arguments and without an alias, and sends grams as the required kilograms. Alone (CostsOnly) the required field is fetched with its arguments.',
      stock: {
        answer: {
          data: {
            parcels: [
              { id: 'a', weight: 1500, cost: 15000, standard: 6000 },
              { id: 'b', weight: 250, cost: 2500, standard: 1000 },
            ],
          },
        },
      },
    },
    {
      operation: 'CostsThenGrams',
      layer: 'query planner',
      why: "As CostsAndGrams, with the fields the other way round: the plan fetches `weight(unit: KILOGRAM)` for the `@requires` and drops the client's `weight`, so the client gets kilograms where it asked for grams.",
      stock: {
        answer: {
          data: {
            parcels: [
              { cost: 8, weight: 1.5 },
              { cost: 4, weight: 0.25 },
            ],
          },
        },
      },
    },
    {
      operation: 'CostsThenChosenUnit',
      layer: 'query planner',
      why: "As CostsThenGrams: the client's `weight(unit: $unit)` is dropped for the required `weight(unit: KILOGRAM)`.",
      stock: {
        answer: {
          data: {
            parcels: [
              { cost: 8, weight: 1.5 },
              { cost: 4, weight: 0.25 },
            ],
          },
        },
      },
    },
  ],
};
