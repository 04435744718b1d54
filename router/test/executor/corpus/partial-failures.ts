import { GraphQLError } from 'graphql';
import { federation, type CorpusCase } from './case.ts';

const products = [
  { id: 'p1', name: 'Kettle' },
  { id: 'p2', name: 'Toaster' },
  { id: 'p3', name: 'Grinder' },
];

/** How the unreachable subgraph's failure reaches the client (its data source's error). */
const unreachable = {
  message: 'request to http://ratings.corpus.invalid/graphql failed: ECONNREFUSED',
  path: null,
  code: 'INTERNAL_SERVER_ERROR',
};

/**
 * Failures that must cost the client only the fields they touch, reported
 * at the client's paths: a resolver that throws for one entity (its error
 * path, given relative to `_entities` by the subgraph, rewritten into the
 * client's response), a non-null field that throws (nulling up to the
 * nearest nullable parent), and a subgraph whose every fetch fails. A failed
 * root fetch is reported at the root fields it was for; a failed entity
 * fetch, for a list of entities, has no one path to name (one error per
 * entity would multiply by the list's length), so it is reported without a
 * path, as the stock gateway does.
 */
export const partialFailures: CorpusCase = {
  name: 'partial failures with error paths',
  subgraphs: [
    {
      name: 'products',
      typeDefs: `${federation('@key')}
        type Query { products: [Product!]! }
        type Product @key(fields: "id") { id: ID! name: String! }`,
      resolvers: { Query: { products: () => products } },
    },
    {
      name: 'stock',
      typeDefs: `${federation('@key')}
        type Product @key(fields: "id") { id: ID! units: Int strictUnits: Int! }`,
      resolvers: {
        Product: {
          units: ({ id }: { id: string }) => {
            if (id === 'p2')
              throw new GraphQLError('stock count failed for p2', { extensions: { code: 'STOCK_FAILED' } });
            return 3;
          },
          strictUnits: ({ id }: { id: string }) => {
            if (id === 'p3')
              throw new GraphQLError('strict count failed for p3', { extensions: { code: 'STOCK_FAILED' } });
            return 5;
          },
        },
      },
    },
    {
      name: 'ratings',
      unreachable: true,
      typeDefs: `${federation('@key')}
        type Query { topRated: [Product!] }
        type Product @key(fields: "id") { id: ID! stars: Float }`,
      resolvers: {},
    },
  ],
  operations: [
    {
      name: 'ResolverThrows',
      query: '{ products { id units } }',
      expected: {
        data: {
          products: [
            { id: 'p1', units: 3 },
            { id: 'p2', units: null },
            { id: 'p3', units: 3 },
          ],
        },
        errors: [{ message: 'stock count failed for p2', path: ['products', 1, 'units'], code: 'STOCK_FAILED' }],
      },
    },
    {
      name: 'NonNullThrows',
      query: '{ products { id strictUnits } }',
      expected: {
        data: null,
        errors: [{ message: 'strict count failed for p3', path: ['products', 2, 'strictUnits'], code: 'STOCK_FAILED' }],
      },
    },
    {
      name: 'SubgraphDownInEntityFetch',
      query: '{ products { name stars } }',
      expected: {
        data: {
          products: [
            { name: 'Kettle', stars: null },
            { name: 'Toaster', stars: null },
            { name: 'Grinder', stars: null },
          ],
        },
        errors: [unreachable],
      },
    },
    {
      name: 'SubgraphDownAtRoot',
      query: '{ topRated { id } products { id } }',
      expected: {
        data: { topRated: null, products: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }] },
        errors: [{ ...unreachable, path: ['topRated'] }],
      },
    },
  ],
  knownStockBugs: [
    {
      operation: 'SubgraphDownAtRoot',
      layer: 'executor',
      why: 'A failed root fetch nulls exactly the root fields it was for, yet the stock gateway reports the failure with no path, so a client cannot tell which of its fields are missing and which are really null.',
      stock: {
        answer: {
          data: { topRated: null, products: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }] },
          errors: [unreachable],
        },
      },
    },
  ],
};
