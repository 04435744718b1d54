import { federation, type CorpusCase } from './case.ts';

const stock = [
  { sku: 'k-1', warehouse: { code: 'BER' }, units: 4 },
  { sku: 'k-1', warehouse: { code: 'LIS' }, units: 0 },
];

/**
 * A key of two fields, one of them nested: the representation must carry
 * the nested object, and an entity is found by the pair, not by either half.
 */
export const entityCompoundKey: CorpusCase = {
  name: 'entity with a compound, nested key',
  subgraphs: [
    {
      name: 'inventory',
      typeDefs: `${federation('@key', '@shareable')}
        type Query { stockLevels: [StockLevel!]! }
        type Warehouse @shareable { code: String! }
        type StockLevel @key(fields: "sku warehouse { code }") { sku: String! warehouse: Warehouse! units: Int! }`,
      resolvers: {
        Query: { stockLevels: () => stock },
        StockLevel: {
          __resolveReference: (ref: { sku: string; warehouse: { code: string } }) =>
            stock.find((s) => s.sku === ref.sku && s.warehouse.code === ref.warehouse.code),
        },
      },
    },
    {
      name: 'pricing',
      typeDefs: `${federation('@key', '@shareable')}
        type Warehouse @shareable { code: String! }
        type StockLevel @key(fields: "sku warehouse { code }") { sku: String! warehouse: Warehouse! restockCost: Int! }`,
      resolvers: {
        StockLevel: {
          restockCost: (ref: { sku: string; warehouse: { code: string } }) => (ref.warehouse.code === 'BER' ? 10 : 25),
        },
      },
    },
  ],
  operations: [
    {
      name: 'StockWithCost',
      query: '{ stockLevels { restockCost warehouse { code } units } }',
      expected: {
        data: {
          stockLevels: [
            { restockCost: 10, warehouse: { code: 'BER' }, units: 4 },
            { restockCost: 25, warehouse: { code: 'LIS' }, units: 0 },
          ],
        },
      },
    },
  ],
};
