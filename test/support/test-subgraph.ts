import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { parse } from 'graphql';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { close, createHttpService, listen } from '../../platform/src/http/server.ts';
import type { Logger } from '../../platform/src/logger.ts';
import type { RouterSettings, RunningRouter } from '../../router/src/router.ts';
import { startTestRouter, testLogger } from './shop-graph.ts';

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
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema({ typeDefs: parse(sdl), resolvers }),
    // As the real subgraphs: the router does not ask for Apollo's inline traces.
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();
  const requests: TestSubgraph['requests'] = [];
  const server = createHttpService({
    logger: testLogger(name),
    graphql: (httpGraphQLRequest) => {
      requests.push(httpGraphQLRequest.body as TestSubgraph['requests'][number]);
      // Resolvers see the request headers, for tests of what the router forwards.
      const headers = Object.fromEntries(httpGraphQLRequest.headers);
      return apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({ headers }) });
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

export interface TestGraph {
  subgraph: TestSubgraph;
  router: RunningRouter;
  /** POSTs a GraphQL request to the router. */
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>;
  stop(): Promise<void>;
}

/** One test subgraph behind a router in this process: the smallest real graph, for router feature tests. */
export async function startTestGraph(
  name: string,
  sdl: string,
  resolvers: GraphQLResolverMap<unknown>,
  routerSettings: Partial<RouterSettings> = {},
  routerLogger?: Logger,
): Promise<TestGraph> {
  const subgraph = await startTestSubgraph(name, sdl, resolvers);
  const workdir = await mkdtemp(join(tmpdir(), `${name}-graph-`));
  try {
    const outcome = composeSupergraph([{ name, url: subgraph.url, sdl }]);
    if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
    const supergraphPath = join(workdir, 'supergraph.graphql');
    await writeFile(supergraphPath, outcome.supergraphSdl);
    const router = await startTestRouter(supergraphPath, routerSettings, routerLogger);
    return {
      subgraph,
      router,
      post: async (body, headers = {}) => {
        const response = await fetch(router.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        });
        const text = await response.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON: the test sees the text.
        }
        return { status: response.status, headers: response.headers, body: parsed };
      },
      stop: async () => {
        await router.stop();
        await subgraph.stop();
        await rm(workdir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await subgraph.stop();
    await rm(workdir, { recursive: true, force: true });
    throw error;
  }
}
