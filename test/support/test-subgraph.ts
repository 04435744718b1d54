import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { parse } from 'graphql';
import { close, createHttpService, listen } from '../../platform/src/http/server.ts';
import { testLogger } from './shop-graph.ts';

export interface TestSubgraph {
  url: string;
  /** Every GraphQL request body the subgraph received, in order. */
  requests: Array<{ query: string; variables?: Record<string, unknown> }>;
  stop(): Promise<void>;
}

/**
 * A small in-memory subgraph that records what the router sends it, for
 * router tests that count or inspect subgraph requests.
 */
export async function startTestSubgraph(
  name: string,
  sdl: string,
  resolvers: GraphQLResolverMap<unknown>,
): Promise<TestSubgraph> {
  const apollo = new ApolloServer({ schema: buildSubgraphSchema({ typeDefs: parse(sdl), resolvers }) });
  await apollo.start();
  const requests: TestSubgraph['requests'] = [];
  const server = createHttpService({
    logger: testLogger(name),
    graphql: (httpGraphQLRequest) => {
      requests.push(httpGraphQLRequest.body as TestSubgraph['requests'][number]);
      return apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({}) });
    },
    readiness: async () => ({}),
  });
  const { url } = await listen(server, 0, '127.0.0.1');
  return {
    url: `${url}/graphql`,
    requests,
    stop: async () => {
      await close(server);
      await apollo.stop();
    },
  };
}
