import { sql } from 'drizzle-orm';
import type { RunningSubgraph } from '../../platform/src/subgraph/server.ts';
import { startTestSubgraph, type TestSubgraph } from './test-subgraph.ts';

/**
 * A subgraph with a mutation that really changes a product in the products
 * database, for tests of what the router does after a mutation. The shop's
 * own mutations arrive with its write path.
 */
export const adminSdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Product @key(fields: "id", resolvable: false) {
    id: ID!
  }
  type Mutation {
    renameProduct(id: ID!, name: String!): Product
  }
`;

export function startAdminSubgraph(products: RunningSubgraph): Promise<TestSubgraph> {
  return startTestSubgraph('admin', adminSdl, {
    Mutation: {
      renameProduct: async (_: unknown, { id, name }: { id: string; name: string }) => {
        await products.database.db.execute(sql`update products set name = ${name} where id = ${id}`);
        return { id };
      },
    },
  });
}
