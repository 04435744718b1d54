import { composeServices } from '@apollo/composition';
import { ApolloGateway, LocalGraphQLDataSource, type GraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { GatewayInterface } from '@apollo/server-gateway-interface';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { parse, type FormattedExecutionResult } from 'graphql';
import type { Logger } from '../../../platform/src/logger.ts';
import { testLogger } from '../../../test/support/shop-graph.ts';
import { OwnExecutorGateway, withDeferDeclared } from '../../src/executor/index.ts';
import { withSubgraphEnforcedSecurity } from '../../src/executor/served-supergraph.ts';
import type { CorpusCase, CorpusContext } from './corpus/case.ts';

/** The executors every differential test runs, each against the same supergraph and subgraphs. */
export const executors = ['stock', 'own'] as const satisfies readonly ExecutorName[];

/** `stock`: @apollo/gateway's own executor; `own`: the router's (router/src/executor/). */
export type ExecutorName = 'stock' | 'own';

/** Per-request context: the corpus resolvers' log, plus what the harness counts. */
export interface ExecutorContext extends CorpusContext {
  /** Requests each subgraph received for this operation, filled by the counting data source. */
  subgraphRequests: Record<string, number>;
  /** Read by SubgraphFetch (router/src/subgraph-fetch): the caller's signed identity, or null. */
  identity?: string | null;
}

export interface ExecutorRun {
  response: FormattedExecutionResult;
  /** Requests each subgraph received while the operation ran. */
  subgraphRequests: Record<string, number>;
}

export interface RunningExecutor {
  name: ExecutorName;
  execute(operation: {
    query: string;
    variables?: Record<string, unknown>;
    /** The caller's signed identity, for subgraphs that check it. Default: anonymous. */
    identity?: string | null;
  }): Promise<ExecutorRun>;
  stop(): Promise<void>;
}

export interface ExecutorOptions {
  supergraphSdl: string;
  /** How the executor reaches each subgraph; the harness counts every request through it. */
  dataSource: (subgraphName: string) => GraphQLDataSource;
  /** Default: a silent test logger. */
  logger?: Logger;
}

/**
 * An Apollo Server over the supergraph, executing with `name`'s executor.
 * Rejects as the gateway does if the executor refuses the supergraph.
 */
export async function startExecutor(
  name: ExecutorName,
  { supergraphSdl, dataSource, logger = testLogger('gateway') }: ExecutorOptions,
): Promise<RunningExecutor> {
  const counted = (subgraphName: string) => countingDataSource(subgraphName, dataSource(subgraphName));
  const gateway = await gatewayFor(name, { supergraphSdl, dataSource: counted, logger });
  const server = new ApolloServer<ExecutorContext>({
    gateway,
    // Stack traces differ between executors and say nothing about the answer.
    includeStacktraceInErrorResponses: false,
    logger,
  });
  await server.start();
  return {
    name,
    async execute({ query, variables, identity = null }) {
      const contextValue: ExecutorContext = { log: [], subgraphRequests: {}, identity };
      const { body } = await server.executeOperation({ query, variables }, { contextValue });
      if (body.kind !== 'single') throw new Error('the corpus has no incremental delivery');
      return { response: body.singleResult, subgraphRequests: contextValue.subgraphRequests };
    },
    stop: () => server.stop(),
  };
}

async function gatewayFor(
  name: ExecutorName,
  { supergraphSdl, dataSource, logger }: Required<Pick<ExecutorOptions, 'supergraphSdl' | 'dataSource' | 'logger'>>,
): Promise<GatewayInterface> {
  switch (name) {
    case 'stock':
      // As the router runs it (ROUTER_EXECUTOR=stock): @defer declared, answered whole.
      return withDeferDeclared(
        new ApolloGateway({ supergraphSdl, logger, buildService: ({ name: subgraph }) => dataSource(subgraph) }),
      );
    case 'own': {
      // As the router serves it (router/src/graph.ts): the context spec is the executor's to apply.
      const served = withSubgraphEnforcedSecurity(supergraphSdl, { contextArguments: true });
      const gateway = new ApolloGateway({
        supergraphSdl: served,
        logger,
        buildService: ({ name: subgraph }) => dataSource(subgraph),
      });
      return new OwnExecutorGateway({ gateway, supergraphSdl: served, dataSource, logger });
    }
  }
}

/** Counts each incoming-operation request into the request's context, then forwards it. */
function countingDataSource(subgraphName: string, inner: GraphQLDataSource): GraphQLDataSource {
  return {
    process(options) {
      if (options.kind === 'incoming operation') {
        const counts = (options.context as Partial<ExecutorContext>).subgraphRequests;
        if (counts) counts[subgraphName] = (counts[subgraphName] ?? 0) + 1;
      }
      return inner.process(options);
    },
  };
}

/** The case's subgraphs composed (Fed 2) into a supergraph; throws with composition's errors. */
export function composeCase(corpusCase: CorpusCase): string {
  const result = composeServices(
    corpusCase.subgraphs.map(({ name, typeDefs }) => ({
      name,
      // Never fetched: LocalGraphQLDataSource executes in-process.
      url: `http://${name}.corpus.invalid/graphql`,
      typeDefs: parse(typeDefs),
    })),
  );
  if (result.errors) {
    throw new Error(`${corpusCase.name} does not compose:\n${result.errors.map((error) => error.message).join('\n')}`);
  }
  return result.supergraphSdl;
}

/**
 * Each subgraph of the case, served in-process. An `unreachable` one fails
 * every fetch the way a refused connection does in RemoteGraphQLDataSource.
 */
export function caseDataSources(corpusCase: CorpusCase): (subgraphName: string) => GraphQLDataSource {
  const sources = new Map<string, GraphQLDataSource>(
    corpusCase.subgraphs.map((subgraph) => {
      const local = new LocalGraphQLDataSource(
        buildSubgraphSchema({
          typeDefs: parse(subgraph.typeDefs),
          // The executors pass every subgraph the request's ExecutorContext, a CorpusContext.
          resolvers: subgraph.resolvers as GraphQLResolverMap<unknown>,
        }),
      );
      const source: GraphQLDataSource = subgraph.unreachable
        ? {
            process: () =>
              Promise.reject(
                new Error(`request to http://${subgraph.name}.corpus.invalid/graphql failed: ECONNREFUSED`),
              ),
          }
        : local;
      return [subgraph.name, source];
    }),
  );
  return (subgraphName) => {
    const source = sources.get(subgraphName);
    if (!source) throw new Error(`the supergraph names a subgraph the case lacks: ${subgraphName}`);
    return source;
  };
}
