import { z } from 'zod';
import {
  booleanFromEnv,
  logLevelFromEnv,
  nodeEnvFromEnv,
  portFromEnv,
  type NodeEnv,
} from '../../platform/src/config.ts';
import { defineEnvFragment } from '../../platform/src/config/fragment.ts';
import {
  drainFitsShutdownTimeout,
  drainFitsShutdownTimeoutIssue,
  lifecycleEnv,
  lifecycleFrom,
  type LifecycleSettings,
} from '../../platform/src/lifecycle.ts';
import { metricsPortFrom, type MetricsListen } from '../../platform/src/metrics.ts';

/** What every service reads, the router included: where it runs, how it logs and stops, what it shares. */
export interface ServiceOptions {
  nodeEnv: NodeEnv;
  host: string;
  logLevel: z.infer<typeof logLevelFromEnv>;
  logPretty: boolean;
  /** Draining and the bound on stopping (the router waits for nothing at start but its supergraph). */
  lifecycle: LifecycleSettings;
  /**
   * Signs the verified caller for the subgraphs (platform/src/identity.ts);
   * they must share it. Null: subgraphs see every caller as anonymous.
   */
  identitySecret: string | null;
  /** Shared cache and event streams for every instance; null keeps the cache in this process. */
  redisUrl: string | null;
  /** Prefix of the event stream names, as the subgraphs use it (EVENT_STREAM_PREFIX); '' for none. */
  eventStreamPrefix: string;
  /** Where `GET /metrics` is served, apart from the public port. */
  metrics: MetricsListen;
}

// Copied at import: zod's `refine` (in the subgraphs' config) takes the shared object's `message` away once called.
const drainIssue = { variable: drainFitsShutdownTimeoutIssue.path[0]!, message: drainFitsShutdownTimeoutIssue.message };

/**
 * The service-wide variables, as the router reads them. Every subgraph
 * reads the same ones; a shared fragment in platform/ is to take this
 * one's place, for all of them.
 */
export const serviceEnv = defineEnvFragment({
  variables: {
    NODE_ENV: nodeEnvFromEnv,
    HOST: z.string().min(1).default('127.0.0.1'),
    LOG_LEVEL: logLevelFromEnv,
    LOG_PRETTY: booleanFromEnv.default(false),
    ...lifecycleEnv,
    INTERNAL_IDENTITY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
      .optional(),
    EVENT_STREAM_PREFIX: z
      .string()
      .regex(/^[\w.-]*$/, 'expected letters, digits, `.`, `_` or `-`')
      .default(''),
    METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    METRICS_PORT: portFromEnv.optional(),
  },
  prefixes: ['LOG_', 'METRICS_', 'SHUTDOWN_', 'STARTUP_', 'INTERNAL_IDENTITY', 'REDIS_', 'EVENT_STREAM'],
  check: (vars) => (drainFitsShutdownTimeout(vars) ? [] : [drainIssue]),
  fromEnv: (vars): ServiceOptions => ({
    nodeEnv: vars.NODE_ENV,
    host: vars.HOST,
    logLevel: vars.LOG_LEVEL,
    logPretty: vars.LOG_PRETTY,
    lifecycle: lifecycleFrom(vars),
    identitySecret: vars.INTERNAL_IDENTITY_SECRET ?? null,
    redisUrl: vars.REDIS_URL ?? null,
    eventStreamPrefix: vars.EVENT_STREAM_PREFIX,
    metrics: {
      host: vars.METRICS_HOST,
      port: metricsPortFrom(vars.METRICS_PORT, vars.NODE_ENV === 'production', 0),
    },
  }),
});
