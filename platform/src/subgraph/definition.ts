import { fileURLToPath } from 'node:url';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Database, DrizzleSchema } from '../db/database.ts';
import type { EventDefinition, EventHandler } from '../events/index.ts';
import type { Viewer } from '../identity.ts';
import type { Logger } from '../logger.ts';
import type { StreamReader, SubscriptionContext } from './subscriptions.ts';

/** How much seed data to write: `small` for a quick start, `scale` for benchmarks. */
export type SeedSize = 'small' | 'scale';

/** Rows of `table` written so far, of `total`: how a seed shows it is moving. */
export type SeedProgress = (table: string, done: number, total: number) => void;

/** What every resolver of a subgraph receives. */
export interface SubgraphContext<TTables extends DrizzleSchema, TLoaders> {
  /** The caller the router verified and signed for; null for an anonymous one. */
  viewer: Viewer | null;
  db: Database<TTables>;
  /** Built fresh for each request, so batching and caching never cross callers. */
  loaders: TLoaders;
  /** The event streams subscription fields read; null or absent without an event bus, and outside subscriptions. */
  streams?: StreamReader | null;
  /** Set while a subscription runs: where the router resumes it. */
  subscription?: SubscriptionContext;
}

/**
 * Everything that makes a subgraph different from another: the rest (server,
 * database, migrations, health, errors) is shared platform code.
 */
export interface SubgraphDefinition<TTables extends DrizzleSchema, TLoaders> {
  /** Name in the supergraph and prefix of the subgraph's env variables. */
  name: string;
  /**
   * The subgraph's folder (the shop's: `subgraphFolderOf(name)` in
   * subgraphs/registry.ts); the schema and migrations are found by the
   * layout every subgraph follows (see `subgraphFiles`).
   */
  root: URL;
  /** The drizzle tables and relations. */
  tables: TTables;
  /** Resolvers typed by the subgraph's generated `Resolvers`. */
  resolvers: object;
  createLoaders: (db: Database<TTables>) => TLoaders;
  /** Writes the deterministic seed data of this subgraph, telling `progress` the rows written per table. */
  seed: (db: Database<TTables>, size: SeedSize, progress?: SeedProgress) => Promise<void>;
  /** A table the seed fills: while it has no rows, the database counts as unseeded. */
  seedTable: PgTable;
  /**
   * Work the subgraph does beside answering queries (housekeeping, event
   * relays and consumers), started once it serves and stopped before its
   * database closes.
   */
  background?: (context: { db: Database<TTables>; logger: Logger }) => BackgroundWork;
  /** How the subgraph takes part in the event flow between subgraphs (platform/src/events). */
  events?: SubgraphEvents<TTables>;
}

export interface SubgraphEvents<TTables extends DrizzleSchema> {
  /**
   * The events the subgraph produces, each defined once in its
   * `src/events.ts` (`defineEvent`, on the stream named after the
   * subgraph): its part of the graph's event catalog. They are recorded in
   * its `outbox` table (exported from its `src/db/schema.ts`) and a relay
   * publishes them; with none, no relay runs.
   */
  publishes?: readonly EventDefinition[];
  /**
   * The events it consumes, each with `on(producersDefinition, handler)`:
   * one subscription per stream they travel on, as the consumer group named
   * after the subgraph, so several instances share the work. Payloads are
   * parsed on receipt. Handlers apply each event once with `handleOnce` and
   * may record events of their own in the same transaction.
   */
  consumes?: readonly EventHandler<Database<TTables>>[];
  /**
   * Records the current state of what the subgraph announces as events
   * (`republishState`), so read models elsewhere catch up: one deployed
   * after the events were published, or rebuilt. `npm run db:republish`.
   * Resolves with how many events were recorded.
   */
  republish?: (db: Database<TTables>) => Promise<number>;
}

export interface BackgroundWork {
  stop(): Promise<void>;
}

/** Runs `task` every `intervalMs` until stopped; a failure is logged and tried again next time. */
export function every(intervalMs: number, name: string, logger: Logger, task: () => Promise<unknown>): BackgroundWork {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(task).catch((error: unknown) => logger.error({ err: error, task: name }, 'task failed'));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** Identity function that lets TypeScript infer a definition's table and loader types. */
export function defineSubgraph<TTables extends DrizzleSchema, TLoaders>(
  definition: SubgraphDefinition<TTables, TLoaders>,
): SubgraphDefinition<TTables, TLoaders> {
  return definition;
}

/** A definition whose table and loader types no longer matter, as in a list of subgraphs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySubgraphDefinition = SubgraphDefinition<any, any>;

/** The files every subgraph folder has: `schema.graphql` and drizzle-kit's `migrations/`. */
export function subgraphFiles({ root }: Pick<AnySubgraphDefinition, 'root'>) {
  return {
    schemaFile: new URL('schema.graphql', root),
    migrationsFolder: fileURLToPath(new URL('migrations', root)),
  };
}
