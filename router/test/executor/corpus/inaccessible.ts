import { federation, valueCompletionInExtensions, type CorpusCase } from './case.ts';

/**
 * `@inaccessible` hides a field and an enum value from clients while the
 * subgraphs still use them: the hidden field as a key, the hidden enum value
 * as a value a subgraph returns anyway. The leaked value must not reach the
 * client as if it were part of the API: a nullable field becomes null with
 * an error at its path, a non-null one nulls its parent.
 */
export const inaccessible: CorpusCase = {
  name: '@inaccessible fields and enum values',
  subgraphs: [
    {
      name: 'orders',
      typeDefs: `${federation('@key', '@inaccessible', '@shareable')}
        enum Status { OPEN SHIPPED LEGACY_HOLD @inaccessible }
        type Query { orders: [Order!]! }
        type Order @key(fields: "internalId") {
          internalId: ID! @inaccessible
          number: String!
          status: Status
          strictStatus: Status!
        }`,
      resolvers: {
        Query: {
          orders: () => [
            { internalId: 'i1', number: 'A-1', status: 'OPEN', strictStatus: 'SHIPPED' },
            { internalId: 'i2', number: 'A-2', status: 'LEGACY_HOLD', strictStatus: 'OPEN' },
          ],
        },
      },
    },
    {
      name: 'tracking',
      typeDefs: `${federation('@key', '@inaccessible', '@shareable')}
        type Order @key(fields: "internalId") { internalId: ID! @inaccessible carrier: String }`,
      resolvers: { Order: { carrier: ({ internalId }: { internalId: string }) => `carrier for ${internalId}` } },
    },
    {
      name: 'legacy',
      typeDefs: `${federation('@inaccessible')}
        enum Status { OPEN SHIPPED LEGACY_HOLD @inaccessible }
        type Query { legacyStatus: Status! legacyStatuses: [Status] }`,
      resolvers: {
        Query: { legacyStatus: () => 'LEGACY_HOLD', legacyStatuses: () => ['OPEN', 'LEGACY_HOLD'] },
      },
    },
  ],
  operations: [
    {
      name: 'OrdersWithCarrier',
      query: '{ orders { number carrier status } }',
      expected: {
        data: {
          orders: [
            { number: 'A-1', carrier: 'carrier for i1', status: 'OPEN' },
            { number: 'A-2', carrier: 'carrier for i2', status: null },
          ],
        },
        errors: [leaked('Invalid value found for field Order.status.', ['orders', 1, 'status'])],
      },
    },
    {
      name: 'StrictLeak',
      query: '{ legacyStatus }',
      expected: { data: null, errors: [leaked('Invalid value found for field Query.legacyStatus.', ['legacyStatus'])] },
    },
    {
      name: 'ListLeak',
      query: '{ legacyStatuses }',
      expected: {
        data: { legacyStatuses: ['OPEN', null] },
        errors: [leaked('Invalid value found for array element of type Status at index 1.', ['legacyStatuses', 1])],
      },
    },
    {
      name: 'HiddenField',
      query: '{ orders { internalId } }',
      expected: {
        errors: [
          {
            message: 'Cannot query field "internalId" on type "Order".',
            path: null,
            code: 'GRAPHQL_VALIDATION_FAILED',
          },
        ],
      },
    },
  ],
  knownStockBugs: [
    {
      operation: 'OrdersWithCarrier',
      layer: 'executor',
      why: valueCompletionInExtensions,
      stock: {
        answer: {
          data: {
            orders: [
              { number: 'A-1', carrier: 'carrier for i1', status: 'OPEN' },
              { number: 'A-2', carrier: 'carrier for i2', status: null },
            ],
          },
        },
      },
    },
    {
      operation: 'StrictLeak',
      layer: 'executor',
      why: `${valueCompletionInExtensions} Here that leaves \`{"data": null}\` with no error at all, which the GraphQL spec forbids.`,
      stock: { answer: { data: null } },
    },
    {
      operation: 'ListLeak',
      layer: 'executor',
      why: valueCompletionInExtensions,
      stock: { answer: { data: { legacyStatuses: ['OPEN', null] } } },
    },
  ],
};

/**
 * A leaked value is the subgraph breaking its contract, an internal fault:
 * the executor gives it no code of its own (the router masks and logs
 * it), so Apollo Server's default formatting calls it INTERNAL_SERVER_ERROR.
 */
function leaked(message: string, path: Array<string | number>) {
  return { message, path, code: 'INTERNAL_SERVER_ERROR' };
}
