import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import type { DatabaseTarget } from '../../platform/src/db/database.ts';
import type { EventBus } from '../../platform/src/events/index.ts';
import { createLogger, type Logger } from '../../platform/src/logger.ts';
import type { SeedSize } from '../../platform/src/subgraph/definition.ts';
import { startSubgraph, type RunningSubgraph } from '../../platform/src/subgraph/server.ts';
import { startRouter, type RouterSettings, type RunningRouter } from '../../router/src/router.ts';
import { loadSubgraph, schemaFileOf, subgraphs, type SubgraphName } from '../../subgraphs/registry.ts';
import { createTestDatabase, type TestDatabase } from '../databases.ts';
import { startDelayingProxy, type DelayingProxy } from './delaying-proxy.ts';
import { testIdentitySecret, testJwtSecret } from './tokens.ts';

/** Test servers log nothing unless TEST_LOG_LEVEL asks for it. */
export function testLogger(service: string): Logger {
  return createLogger({ service, level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

export interface GraphQLResponse<TData = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: {
    data?: TData | null;
    errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }>;
  };
}

/**
 * An operation to send: a generated typed document (operations/__generated__,
 * or one typed by hand in a subgraph's tests), whose result and variables types
 * the response takes, or plain text.
 */
export type Operation<TData, TVariables> = TypedDocumentNode<TData, TVariables> | string;

/** POSTs a GraphQL operation over real HTTP. */
export async function postGraphQL<TData = Record<string, unknown>, TVariables = Record<string, unknown>>(
  url: string,
  operation: Operation<TData, TVariables>,
  variables?: TVariables,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<TData>> {
  const query = typeof operation === 'string' ? operation : print(operation);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as GraphQLResponse<TData>['body'],
  };
}

export interface StartedSubgraphs {
  byName: Record<SubgraphName, RunningSubgraph>;
  stop(): Promise<void>;
}

/**
 * Starts every subgraph in this process, each on its own throwaway database
 * (real Postgres, or in-memory PGlite outside CI), migrated and seeded.
 */
export async function startSubgraphs(
  label: string,
  seed: SeedSize | null = 'small',
  bus: EventBus | null = null,
  postgresAdminUrl?: string,
  loggerFor: (service: string) => Logger = testLogger,
): Promise<StartedSubgraphs> {
  const databases: TestDatabase[] = [];
  const running: RunningSubgraph[] = [];
  const stop = async () => {
    await Promise.allSettled(running.map((subgraph) => subgraph.stop()));
    await Promise.allSettled(databases.map((database) => database.drop()));
  };
  // allSettled, not all: on a failure, stop only once every start has finished,
  // so no subgraph comes up after cleanup and outlives the test.
  const results = await Promise.allSettled(
    subgraphs.map(async ({ name }) => {
      const database = await createTestDatabase(`${label}_${name}`, postgresAdminUrl);
      databases.push(database);
      running.push(await startTestSubgraph(name, database.target, seed, bus, loggerFor(name)));
    }),
  );
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) {
    await stop();
    throw failure.reason;
  }
  const byName = Object.fromEntries(running.map((subgraph) => [subgraph.name, subgraph])) as Record<
    SubgraphName,
    RunningSubgraph
  >;
  return { byName, stop };
}

/** One subgraph in this process on a free loopback port, migrated and (with `seed`) seeded. */
export async function startTestSubgraph(
  name: SubgraphName,
  database: DatabaseTarget,
  seed: SeedSize | null,
  bus: EventBus | null,
  logger: Logger,
): Promise<RunningSubgraph> {
  return startSubgraph(
    await loadSubgraph(name),
    {
      host: '127.0.0.1',
      port: 0,
      database,
      migrateOnStart: true,
      seedIfEmpty: seed,
      nodeEnv: 'test',
      identitySecret: testIdentitySecret,
      bus,
    },
    logger,
  );
}

/** Composes the subgraphs' own schema files with the URLs they actually listen on. */
export function composeFor(
  running: Record<string, { url: string }>,
  sdlOverrides: Record<string, string> = {},
): string {
  const outcome = composeSupergraph(
    Object.entries(running).map(([name, { url }]) => ({
      name,
      url,
      sdl: sdlOverrides[name] ?? readFileSync(schemaFileOf(name), 'utf8'),
    })),
  );
  if (!outcome.ok) throw new Error(`composition failed:\n${outcome.errors.join('\n')}`);
  return outcome.supergraphSdl;
}

/** A router in this process on a free loopback port, serving `supergraphPath` without watching it. */
export function startTestRouter(
  supergraphPath: string,
  settings: Partial<RouterSettings> = {},
  logger: Logger = testLogger('router'),
): Promise<RunningRouter> {
  return startRouter(
    {
      host: '127.0.0.1',
      port: 0,
      supergraphPath,
      watchSupergraph: false,
      subgraphUrls: {},
      nodeEnv: 'test',
      identitySecret: testIdentitySecret,
      authentication: { keys: { kind: 'secret', secret: testJwtSecret } },
      // Tests query deeper and wider than any shipped operation, to check the data;
      // the production limits have tests of their own (router/test/hostile-requests.test.ts).
      limits: { maxDepth: 12, maxCost: 1_000_000 },
      ...settings,
    },
    logger,
  );
}

export interface ShopGraph {
  router: RunningRouter;
  subgraphs: Record<SubgraphName, RunningSubgraph>;
  /** The delaying proxies asked for (`delays`), by subgraph: set `delayMs` to change a delay. */
  proxies: Partial<Record<SubgraphName, DelayingProxy>>;
  /** The supergraph the router serves, for another router beside it. */
  supergraphPath: string;
  /** Sends an operation through the router; a typed document types the response. */
  query<TData = Record<string, unknown>, TVariables = Record<string, unknown>>(
    operation: Operation<TData, TVariables>,
    variables?: TVariables,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<TData>>;
  stop(): Promise<void>;
}

/**
 * The whole graph in-process: every subgraph plus a router, all talking real HTTP on loopback.
 * With `bus`, subgraphs relay their outboxes and consume each other's events on it;
 * with `postgresAdminUrl`, their databases live on that server instead of the suite's;
 * with `loggerFor`, each service logs where the test reads it.
 */
export async function startShopGraph(
  label: string,
  routerSettings: Partial<RouterSettings> = {},
  {
    bus = null,
    postgresAdminUrl,
    loggerFor = testLogger,
    delays = {},
  }: {
    bus?: EventBus | null;
    postgresAdminUrl?: string;
    loggerFor?: (service: string) => Logger;
    /** Subgraphs the router reaches through a proxy that holds each request this many ms (`proxies`). */
    delays?: Partial<Record<SubgraphName, number>>;
  } = {},
): Promise<ShopGraph> {
  const started = await startSubgraphs(label, 'small', bus, postgresAdminUrl, loggerFor);
  const workdir = await mkdtemp(join(tmpdir(), 'shop-graph-'));
  const proxies: Partial<Record<SubgraphName, DelayingProxy>> = {};
  const stopProxies = () => Promise.allSettled(Object.values(proxies).map((proxy) => proxy.stop()));
  try {
    for (const [name, ms] of Object.entries(delays) as Array<[SubgraphName, number]>)
      proxies[name] = await startDelayingProxy(started.byName[name].url, ms);
    const supergraphPath = join(workdir, 'supergraph.graphql');
    await writeFile(supergraphPath, composeFor({ ...started.byName, ...proxies }));
    const router = await startTestRouter(supergraphPath, routerSettings, loggerFor('router'));
    return {
      router,
      subgraphs: started.byName,
      proxies,
      supergraphPath,
      query: (query, variables, headers) => postGraphQL(router.url, query, variables, headers),
      async stop() {
        await router.stop();
        await stopProxies();
        await started.stop();
        await rm(workdir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopProxies();
    await started.stop();
    await rm(workdir, { recursive: true, force: true });
    throw error;
  }
}
