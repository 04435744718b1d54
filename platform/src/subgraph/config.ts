import { resolve } from 'node:path';
import { z } from 'zod';
import {
  booleanFromEnv,
  envPrefix,
  logLevelFromEnv,
  nodeEnvFromEnv,
  parseEnv,
  portFromEnv,
  postgresUrlFromEnv,
  type NodeEnv,
} from '../config.ts';
import type { DatabaseTarget } from '../db/database.ts';
import {
  drainFitsShutdownTimeout,
  drainFitsShutdownTimeoutIssue,
  lifecycleEnv,
  lifecycleFrom,
  type LifecycleSettings,
} from '../lifecycle.ts';
import { metricsPortFrom, type MetricsListen } from '../metrics.ts';
import type { SeedSize } from './definition.ts';

export interface SubgraphConfig {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  database: DatabaseTarget;
  /** Apply pending migrations at start. */
  migrateOnStart: boolean;
  /** Seed an empty database with this much data at start; `null` never seeds. */
  seedIfEmpty: SeedSize | null;
  /**
   * Verifies the caller identity the router signs (platform/src/identity.ts);
   * null: any forwarded identity is refused and every caller is anonymous.
   */
  identitySecret: string | null;
  /**
   * The Redis whose streams carry events between subgraphs. Null: events
   * wait in the outbox (nothing is lost) and nothing is consumed.
   */
  redisUrl: string | null;
  /** Prefix of every event stream name, so graphs sharing a Redis stay apart (`staging`). Default: none. */
  eventStreamPrefix: string;
  /** Waiting for the database (and Redis) at start, draining and the bound on stopping. */
  lifecycle: LifecycleSettings;
  /** Where `GET /metrics` is served, apart from the public port (`<NAME>_METRICS_PORT`, `METRICS_HOST`). */
  metrics: MetricsListen;
  logLevel: z.infer<typeof logLevelFromEnv>;
  logPretty: boolean;
}

/**
 * Reads one subgraph's configuration. Variables are prefixed with the
 * subgraph's name (`PRODUCTS_PORT`, `PRODUCTS_DATABASE_URL`) so that one
 * environment can describe the whole graph, as `npm start` and
 * docker-compose do.
 */
export function subgraphConfigFromEnv(
  name: string,
  defaultPort: number,
  env: NodeJS.ProcessEnv = process.env,
): SubgraphConfig {
  const prefix = envPrefix(name);
  const schema = z
    .object({
      NODE_ENV: nodeEnvFromEnv,
      HOST: z.string().min(1).default('127.0.0.1'),
      PORT: portFromEnv.default(defaultPort),
      METRICS_HOST: z.string().min(1).default('127.0.0.1'),
      METRICS_PORT: portFromEnv.optional(),
      DATABASE_URL: postgresUrlFromEnv.optional(),
      DATA_DIR: z.string().min(1).default('.data'),
      DB_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
      MIGRATE_ON_START: booleanFromEnv.optional(),
      SEED_IF_EMPTY: z.enum(['small', 'scale', 'none']).optional(),
      INTERNAL_IDENTITY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
      REDIS_URL: z
        .string()
        .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
        .optional(),
      EVENT_STREAM_PREFIX: z
        .string()
        .regex(/^[\w.-]*$/, 'expected letters, digits, `.`, `_` or `-`')
        .default(''),
      LOG_LEVEL: logLevelFromEnv,
      LOG_PRETTY: booleanFromEnv.default(false),
      ...lifecycleEnv,
    })
    .refine(drainFitsShutdownTimeout, drainFitsShutdownTimeoutIssue)
    .transform((vars): SubgraphConfig => {
      const nodeEnv = vars.NODE_ENV;
      const url = vars.DATABASE_URL;
      const database: DatabaseTarget = url
        ? { kind: 'postgres', url, poolMax: vars.DB_POOL_MAX }
        : { kind: 'pglite', dataDir: resolve(vars.DATA_DIR, name) };
      // Development migrates itself; production runs `npm run db:migrate` as a release step.
      const migrateOnStart = vars.MIGRATE_ON_START ?? nodeEnv !== 'production';
      const seed = vars.SEED_IF_EMPTY ?? (nodeEnv === 'production' ? 'none' : 'small');
      return {
        nodeEnv,
        host: vars.HOST,
        port: vars.PORT,
        database,
        migrateOnStart,
        seedIfEmpty: seed === 'none' ? null : seed,
        identitySecret: vars.INTERNAL_IDENTITY_SECRET ?? null,
        redisUrl: vars.REDIS_URL ?? null,
        eventStreamPrefix: vars.EVENT_STREAM_PREFIX,
        lifecycle: lifecycleFrom(vars),
        metrics: {
          host: vars.METRICS_HOST,
          // Several subgraphs run on one machine: each has its own port, beside the router's.
          port: metricsPortFrom(vars.METRICS_PORT, nodeEnv === 'production', defaultPort - 4000),
        },
        logLevel: vars.LOG_LEVEL,
        logPretty: vars.LOG_PRETTY,
      };
    });
  // Only the prefixed names are read, so a stray PORT or DATABASE_URL in the
  // environment cannot point every subgraph at the same place.
  return parseEnv(schema, env, {
    PORT: `${prefix}_PORT`,
    METRICS_PORT: `${prefix}_METRICS_PORT`,
    DATABASE_URL: `${prefix}_DATABASE_URL`,
  });
}
