import type { Database } from '../../platform/src/db/database.ts';
import { createIdentitySigner, identityHeader, type Viewer } from '../../platform/src/identity.ts';
import type { SeedSize } from '../../platform/src/subgraph/definition.ts';
import type { RunningSubgraph } from '../../platform/src/subgraph/server.ts';
import type { SubgraphName } from '../../subgraphs/registry.ts';
import { createTestDatabase } from '../databases.ts';
import { postGraphQL, startTestSubgraph, testLogger, type GraphQLResponse, type Operation } from './shop-graph.ts';
import { testIdentitySecret } from './tokens.ts';

export interface SingleSubgraph<TTables extends Record<string, unknown>> {
  running: RunningSubgraph;
  /** The subgraph's own database, typed by its tables, to read what a mutation wrote. */
  db: Database<TTables>;
  /**
   * Sends an operation straight to the subgraph, as the router would: `as`
   * becomes the signed identity header, and no caller means an anonymous one.
   */
  query<TData, TVariables>(
    operation: Operation<TData, TVariables>,
    variables?: TVariables,
    as?: Viewer | null,
  ): Promise<GraphQLResponse<TData>>;
  stop(): Promise<void>;
}

/**
 * One subgraph in this process, on its own throwaway database (real Postgres
 * in the int tier), with no router in front: its resolvers, authorization and
 * SQL are tested alone. Flows across subgraphs belong in `test/`.
 */
export async function startSingleSubgraph<TTables extends Record<string, unknown>>(
  name: SubgraphName,
  label: string,
  { seed = 'small' }: { seed?: SeedSize | null } = {},
): Promise<SingleSubgraph<TTables>> {
  const database = await createTestDatabase(`${label}_${name}`);
  let running: RunningSubgraph;
  try {
    running = await startTestSubgraph(name, database.target, seed, null, testLogger(name));
  } catch (error) {
    await database.drop();
    throw error;
  }
  const signer = await createIdentitySigner(testIdentitySecret);
  return {
    running,
    db: running.database.db as unknown as Database<TTables>,
    async query(operation, variables, as = null) {
      const headers: Record<string, string> = as ? { [identityHeader]: await signer.sign(as) } : {};
      return postGraphQL(running.url, operation, variables, headers);
    },
    async stop() {
      await running.stop();
      await database.drop();
    },
  };
}
