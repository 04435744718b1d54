import { setTimeout as sleep } from 'node:timers/promises';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { close, createHttpService, listen } from '../../platform/src/http/server.ts';
import { testLogger } from './shop-graph.ts';

/**
 * A subgraph for router tests that need requests to stay in flight:
 * `slow(ms)` waits at a gate the test opens and closes, then for `ms`;
 * `slowV2(ms)` only waits for `ms`. Both fields are always served, so a
 * supergraph can expose either and a test can swap between them.
 */

export const timingSdl = (...fields: string[]) => `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@shareable"])
  type Query { ${fields.map((field) => `${field}(ms: Int!): String!`).join(' ')} }
`;

/** Holds `slow` requests inside the subgraph until released, so a test decides when they finish. */
export function createGate() {
  let release!: () => void;
  let opened = new Promise<void>((resolve) => (release = resolve));
  let waiting = 0;
  return {
    get waiting() {
      return waiting;
    },
    async pass() {
      waiting++;
      await opened;
    },
    open: () => release(),
    close() {
      waiting = 0;
      opened = new Promise<void>((resolve) => (release = resolve));
    },
  };
}

function openGate() {
  const gate = createGate();
  gate.open();
  return gate;
}

export type Gate = ReturnType<typeof createGate>;

export async function startTimingSubgraph(gate = openGate()) {
  const slowV2 = async (_: unknown, { ms }: { ms: number }) => {
    await sleep(ms);
    return 'done';
  };
  // Only the old field waits at the gate: requests on the new supergraph run freely.
  const slow = async (parent: unknown, args: { ms: number }) => {
    await gate.pass();
    return slowV2(parent, args);
  };
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(timingSdl('slow', 'slowV2')),
      resolvers: { Query: { slow, slowV2 } },
    }),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();
  const server = createHttpService({
    logger: testLogger('timing'),
    graphql: (httpGraphQLRequest) =>
      apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({}) }),
    readiness: async () => ({}),
  });
  const { url } = await listen(server, 0, '127.0.0.1');
  return {
    url: `${url}/graphql`,
    stop: async () => {
      await close(server);
      await apollo.stop();
    },
  };
}
