import { z } from 'zod';
import {
  booleanFromEnv,
  logLevelFromEnv,
  nodeEnvFromEnv,
  portFromEnv,
  secondsFromEnv,
  type NodeEnv,
} from '../config.ts';
import { drainFitsShutdownTimeoutIssue, lifecycleFrom, type LifecycleSettings } from '../lifecycle.ts';
import { metricsPortFrom, type MetricsListen } from '../metrics.ts';
import { parseRedisUrl } from '../cache/redis-url.ts';
import { defineEnvFragment } from './fragment.ts';

/** What the router and every subgraph read alike: where they run, how they log, start and stop, and what they share. */
export interface ServiceOptions {
  /** `NODE_ENV`. Default: development. */
  nodeEnv: NodeEnv;
  /** Interface the public port listens on (`HOST`). Default: 127.0.0.1, this machine only. */
  host: string;
  /** `LOG_LEVEL`. Default: info. */
  logLevel: LogLevel;
  /** Human-readable lines instead of JSON (`LOG_PRETTY`), when pino-pretty is installed. Default: false. */
  logPretty: boolean;
  /** Waiting at start, draining and the bound on stopping (`STARTUP_TIMEOUT_SECONDS`, `SHUTDOWN_*`). */
  lifecycle: LifecycleSettings;
  /**
   * Signs (router) or verifies (subgraphs) the caller's identity
   * (`INTERNAL_IDENTITY_SECRET`, platform/src/identity.ts); every service of
   * a graph must share it. Default: null, every caller is anonymous past the router.
   */
  identitySecret: string | null;
  /**
   * `REDIS_URL`: the router's shared cache and the event streams, on one
   * server (`redis://`, `rediss://`) or a cluster (`redis+cluster://host:port,…`,
   * cache/redis-url.ts). Default: null, none.
   */
  redisUrl: string | null;
  /** Prefix of every event stream name, so graphs sharing a Redis stay apart (`staging`). Default: '', none. */
  eventStreamPrefix: string;
  /** Where `GET /metrics` is served, apart from the public port (`METRICS_HOST`, the service's metrics port variable). */
  metrics: MetricsListen;
}

export type LogLevel = z.infer<typeof logLevelFromEnv>;

export interface ServiceEnvOptions {
  /**
   * The variable that sets the metrics port: one per service, since
   * several run side by side on one machine. Default: `METRICS_PORT`.
   */
  metricsPortVariable?: string;
  /**
   * Added to the production metrics port, 9464 (`metricsPortFrom`): the
   * router's is 0, a subgraph's its registered port − 4000. Default: 0.
   */
  metricsPortOffset?: number;
}

/** The service fragment's own variables; the metrics port's name depends on the service. */
const serviceVariables = {
  NODE_ENV: nodeEnvFromEnv.unwrap().optional(),
  HOST: z.string().min(1).optional(),
  LOG_LEVEL: logLevelFromEnv.unwrap().optional(),
  LOG_PRETTY: booleanFromEnv.optional(),
  SHUTDOWN_DRAIN_SECONDS: secondsFromEnv.optional(),
  SHUTDOWN_TIMEOUT_SECONDS: secondsFromEnv.optional(),
  STARTUP_TIMEOUT_SECONDS: secondsFromEnv.optional(),
  INTERNAL_IDENTITY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  REDIS_URL: z
    .string()
    .superRefine((url, context) => {
      try {
        parseRedisUrl(url);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .optional(),
  EVENT_STREAM_PREFIX: z
    .string()
    .regex(/^[\w.-]*$/, 'expected letters, digits, `.`, `_` or `-`')
    .optional(),
  METRICS_HOST: z.string().min(1).optional(),
};

/**
 * The fragment every service's config starts from (router and subgraphs
 * alike): the variables and defaults they share are stated here once.
 */
export function serviceEnv({ metricsPortVariable = 'METRICS_PORT', metricsPortOffset = 0 }: ServiceEnvOptions = {}) {
  return defineEnvFragment({
    // Typed as the fixed variables alone: a computed key would widen every variable's type to the port's.
    variables: { ...serviceVariables, [metricsPortVariable]: portFromEnv.optional() } as typeof serviceVariables,
    // Specific on purpose: `REDIS_` or `NODE_` would catch other programs' variables.
    prefixes: ['LOG_', 'SHUTDOWN_', 'STARTUP_', 'INTERNAL_IDENTITY_', 'EVENT_STREAM_', 'METRICS_'],
    check: (vars) => {
      const { drainMs, shutdownTimeoutMs } = lifecycleFrom({ ...vars, NODE_ENV: vars.NODE_ENV ?? defaultNodeEnv });
      // The drain is part of the stop's time, so it must leave some.
      return drainMs < shutdownTimeoutMs
        ? []
        : [{ variable: drainFitsShutdownTimeoutIssue.path[0]!, message: drainFitsShutdownTimeoutIssue.message }];
    },
    fromEnv: (vars): ServiceOptions => {
      const nodeEnv = vars.NODE_ENV ?? defaultNodeEnv;
      const metricsPort = (vars as Record<string, unknown>)[metricsPortVariable] as number | undefined;
      return {
        nodeEnv,
        host: vars.HOST ?? '127.0.0.1',
        logLevel: vars.LOG_LEVEL ?? 'info',
        logPretty: vars.LOG_PRETTY ?? false,
        lifecycle: lifecycleFrom({ ...vars, NODE_ENV: nodeEnv }),
        identitySecret: vars.INTERNAL_IDENTITY_SECRET ?? null,
        redisUrl: vars.REDIS_URL ?? null,
        eventStreamPrefix: vars.EVENT_STREAM_PREFIX ?? '',
        metrics: {
          host: vars.METRICS_HOST ?? '127.0.0.1',
          port: metricsPortFrom(metricsPort, nodeEnv === 'production', metricsPortOffset),
        },
      };
    },
  });
}

const defaultNodeEnv: NodeEnv = 'development';
