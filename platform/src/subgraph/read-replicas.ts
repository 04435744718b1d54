import type { ApolloServerPlugin } from '@apollo/server';
import type { RedisCache } from '../cache/redis.ts';
import type { Database, DrizzleSchema } from '../db/database.ts';
import { inProcessRecentWrites, redisRecentWrites } from '../db/read-your-writes.ts';
import type { ReadReplicas } from '../db/replicas.ts';
import type { Logger } from '../logger.ts';
import type { SubgraphContext } from './definition.ts';

/** At most one warning about write positions that could not be recorded per this interval. */
const unrecordedWarningIntervalMs = 10_000;

export interface ReadReplicasPluginOptions<TTables extends DrizzleSchema, TLoaders> {
  /** The database's replicas (`DatabaseHandle.replicas`). */
  replicas: ReadReplicas<TTables>;
  /** The subgraph's name, part of the records' Redis keys. */
  subgraph: string;
  /** The subgraph's loaders, built again on the request's reads when they leave the primary. */
  createLoaders: (db: Database<TTables>) => TLoaders;
  /**
   * The subgraph's Redis, where every instance of the subgraph sees the
   * callers' write positions; it answers null until connected, and every
   * signed-in caller reads from the primary meanwhile. Each record is kept
   * in this process too, so one that Redis missed still holds here. Null
   * keeps the records in this process only. Default: null.
   */
  redis?: (() => RedisCache | null) | null;
  logger: Logger;
}

/**
 * Chooses where each GraphQL request reads, and records that a signed-in
 * caller wrote, with where their mutation left the primary, so that their
 * reads within the window see all the primary had (platform/src/db/replicas.ts).
 *
 * The choice waits for the parsed operation (`didResolveOperation`), as it
 * depends on its type, and is kept in the request's own context: its `db`
 * and the loaders built from it, replaced before any resolver runs. A
 * mutation keeps the primary for all its statements, reads included: what
 * it reads decides what it writes, and must not be a replica's past. A
 * subscription keeps the primary too (it is served apart, with a context of
 * its own). The write position is recorded before the response is sent, so
 * the caller's next request, which may follow it at once, finds it.
 */
export function readReplicasPlugin<TTables extends DrizzleSchema, TLoaders>({
  replicas,
  subgraph,
  createLoaders,
  redis = null,
  logger,
}: ReadReplicasPluginOptions<TTables, TLoaders>): ApolloServerPlugin<SubgraphContext<TTables, TLoaders>> {
  const windowMs = replicas.readYourWritesWindowMs;
  const recentWrites = redis ? redisRecentWrites({ redis, subgraph, windowMs }) : inProcessRecentWrites({ windowMs });
  // A window of 0 turns read-your-writes off: nothing is recorded, and every caller reads as an anonymous one.
  const tracks = windowMs > 0;
  let lastUnrecordedWarning = -Infinity;
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, contextValue }) {
          if (operation?.operation !== 'query') return;
          const caller = tracks ? (contextValue.viewer?.id ?? null) : null;
          const reads = await replicas.readsFor(caller, recentWrites);
          if (reads === contextValue.db) return;
          contextValue.db = reads;
          contextValue.loaders = createLoaders(reads);
        },
        async willSendResponse({ operation, contextValue }) {
          // Anonymous callers write nothing here, and have no identity to find a record by.
          const caller = contextValue.viewer?.id;
          if (operation?.operation !== 'mutation' || !caller || !tracks) return;
          // Recorded for a failed mutation too: part of it may have committed, and a record costs only primary reads.
          let recorded: boolean;
          try {
            recorded = await recentWrites.record(caller, await replicas.writePosition());
          } catch (error) {
            logger.warn({ err: error }, "could not read the primary's write position after a mutation");
            return;
          }
          // This instance keeps the record; once Redis answers again within the window, another instance may
          // serve this caller their past from a replica.
          // Said once in a while, not per mutation: while Redis is away every signed-in mutation lands here.
          if (!recorded && performance.now() - lastUnrecordedWarning > unrecordedWarningIntervalMs) {
            lastUnrecordedWarning = performance.now();
            logger.warn(
              "could not record callers' write positions in Redis; their next reads on other instances may miss their writes",
            );
          }
        },
      };
    },
  };
}
