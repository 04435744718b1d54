import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { close, createHttpService, listen } from '../../platform/src/http/server.ts';
import type { Logger } from '../../platform/src/logger.ts';
import type { RouterConfig } from './config.ts';
import { createSharedCache } from './cache.ts';
import { GraphVersion, type GraphOptions } from './graph.ts';

export type ReloadOutcome =
  | { status: 'reloaded'; id: string; previousId: string }
  | { status: 'unchanged'; id: string }
  | { status: 'rejected'; id: string; reason: string };

export interface RunningRouter {
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  port: number;
  /** Id (sha-256 prefix) of the supergraph now serving new requests. */
  graphId(): string;
  /** Re-reads the supergraph file and swaps to it if it is new and valid. */
  reload(): Promise<ReloadOutcome>;
  /** Stops accepting requests, lets in-flight ones finish, then stops the gateway. */
  stop(): Promise<void>;
}

export type RouterSettings = Pick<
  RouterConfig,
  'host' | 'port' | 'supergraphPath' | 'watchSupergraph' | 'subgraphUrls' | 'nodeEnv'
> &
  Partial<Pick<RouterConfig, 'redisUrl' | 'persistedQueryTtlSeconds'>> &
  Pick<GraphOptions, 'drainTimeoutMs'>;

// Editors save in bursts (truncate, write, rename); wait for the file to settle.
const watchDebounceMs = 150;

export async function startRouter(settings: RouterSettings, logger: Logger): Promise<RunningRouter> {
  const shared = createSharedCache(settings.redisUrl ?? null, logger);
  const graphOptions: GraphOptions = {
    production: settings.nodeEnv === 'production',
    subgraphUrls: settings.subgraphUrls,
    persistedQueries: { cache: shared.cache, ttlSeconds: settings.persistedQueryTtlSeconds ?? 86_400 },
    logger,
    ...(settings.drainTimeoutMs !== undefined ? { drainTimeoutMs: settings.drainTimeoutMs } : {}),
  };
  let current: GraphVersion;
  try {
    current = await GraphVersion.build(await readFile(settings.supergraphPath, 'utf8'), graphOptions);
  } catch (error) {
    await shared.close();
    throw error;
  }
  logger.info({ supergraph: settings.supergraphPath, graphId: current.id, cache: shared.kind }, 'supergraph loaded');

  let stopping = false;
  // Reloads run one at a time, so two quick saves cannot race to swap.
  let reloading: Promise<ReloadOutcome> = Promise.resolve({ status: 'unchanged', id: current.id });
  const reload = (): Promise<ReloadOutcome> => {
    reloading = reloading.then(async () => {
      if (stopping) return { status: 'unchanged', id: current.id };
      let version: GraphVersion;
      try {
        const sdl = await readFile(settings.supergraphPath, 'utf8');
        if (sdl === current.supergraphSdl) return { status: 'unchanged', id: current.id };
        version = await GraphVersion.build(sdl, graphOptions);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        logger.error(
          { supergraph: settings.supergraphPath, graphId: current.id, reason },
          'new supergraph rejected; still serving the previous one',
        );
        return { status: 'rejected', id: current.id, reason };
      }
      if (stopping) {
        // Built while the router was stopping: nothing will ever serve it.
        await version.stop();
        return { status: 'unchanged', id: current.id };
      }
      const previous = current;
      current = version;
      previous.retire();
      logger.info(
        { graphId: version.id, previousId: previous.id, draining: previous.inFlightRequests },
        'supergraph reloaded',
      );
      return { status: 'reloaded', id: version.id, previousId: previous.id };
    });
    return reloading;
  };

  let watcher: FSWatcher | null = null;
  let debounce: NodeJS.Timeout | undefined;
  if (settings.watchSupergraph) {
    // Watch the folder, not the file: an editor's atomic save replaces the
    // file's inode, and a Kubernetes ConfigMap update swaps a symlink beside
    // it without any event naming the file. Any change in the folder is
    // checked; an unchanged file makes reload() a no-op.
    watcher = watch(dirname(settings.supergraphPath), () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload(), watchDebounceMs);
    });
    watcher.on('error', (error) => {
      logger.error(
        { err: error, supergraph: settings.supergraphPath },
        'cannot watch the supergraph; send SIGHUP to reload',
      );
    });
  }

  const server = createHttpService({
    logger,
    graphql: (httpGraphQLRequest) =>
      current.serve((apollo) => apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({}) })),
    readiness: async () => ({ supergraph: { ok: true, detail: `serving ${current.id}` } }),
  });
  const listening = await listen(server, settings.port, settings.host);
  logger.info({ url: `${listening.url}/graphql`, graphId: current.id }, 'router ready');

  return {
    url: `${listening.url}/graphql`,
    port: listening.port,
    graphId: () => current.id,
    reload,
    async stop() {
      stopping = true;
      watcher?.close();
      clearTimeout(debounce);
      await close(server);
      await reloading;
      await current.stop();
      await shared.close();
    },
  };
}
