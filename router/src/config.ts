import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  ConfigError,
  booleanFromEnv,
  logLevelFromEnv,
  nodeEnvFromEnv,
  parseEnv,
  portFromEnv,
  type NodeEnv,
} from '../../platform/src/config.ts';

export interface RouterConfig {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  /** The composed supergraph SDL file to serve. */
  supergraphPath: string;
  /** Reload when the supergraph file changes. */
  watchSupergraph: boolean;
  /**
   * Routing URLs that replace the ones composed into the supergraph, keyed
   * by the subgraph's env prefix (`ACCOUNTS`): a supergraph composed for
   * localhost can then serve in a cluster unchanged.
   */
  subgraphUrls: Record<string, string>;
  /** Shared cache for every router instance; unset keeps the cache in this process. */
  redisUrl: string | null;
  /** How long an automatic persisted query stays registered, in seconds. */
  persistedQueryTtlSeconds: number;
  logLevel: z.infer<typeof logLevelFromEnv>;
  logPretty: boolean;
}

const subgraphUrlVariable = /^([A-Z0-9_]+)_SUBGRAPH_URL$/;

/**
 * Reads flags first, then the environment, like Apollo Router's
 * `--supergraph`: `router --supergraph other.graphql --port 4100`.
 */
export function routerConfigFrom(argv: string[], env: NodeJS.ProcessEnv = process.env): RouterConfig {
  const { values: flags } = parseArgs({
    args: argv,
    options: {
      supergraph: { type: 'string', short: 's' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
    },
  });
  const schema = z
    .object({
      NODE_ENV: nodeEnvFromEnv,
      HOST: z.string().min(1).default('127.0.0.1'),
      ROUTER_PORT: portFromEnv.default(4000),
      SUPERGRAPH_PATH: z.string().min(1).default('schema/supergraph.graphql'),
      SUPERGRAPH_WATCH: booleanFromEnv.default(true),
      REDIS_URL: z
        .string()
        .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
        .optional(),
      APQ_TTL_SECONDS: z.coerce.number().int().min(1).default(86_400),
      LOG_LEVEL: logLevelFromEnv,
      LOG_PRETTY: booleanFromEnv.default(false),
    })
    .transform((vars): RouterConfig => ({
      nodeEnv: vars.NODE_ENV,
      host: vars.HOST,
      port: vars.ROUTER_PORT,
      supergraphPath: resolve(vars.SUPERGRAPH_PATH),
      watchSupergraph: vars.SUPERGRAPH_WATCH,
      subgraphUrls: subgraphUrlsFrom(env),
      redisUrl: vars.REDIS_URL ?? null,
      persistedQueryTtlSeconds: vars.APQ_TTL_SECONDS,
      logLevel: vars.LOG_LEVEL,
      logPretty: vars.LOG_PRETTY,
    }));
  return parseEnv(schema, {
    ...env,
    ...(flags.supergraph !== undefined ? { SUPERGRAPH_PATH: flags.supergraph } : {}),
    ...(flags.port !== undefined ? { ROUTER_PORT: flags.port } : {}),
    ...(flags.host !== undefined ? { HOST: flags.host } : {}),
  });
}

function subgraphUrlsFrom(env: NodeJS.ProcessEnv): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const [variable, value] of Object.entries(env)) {
    const match = subgraphUrlVariable.exec(variable);
    if (!match || !value) continue;
    const url = z.url({ protocol: /^https?$/ }).safeParse(value);
    if (!url.success) throw new ConfigError(`Invalid environment:\n  ${variable}: expected an http(s) URL`);
    urls[match[1]!] = url.data;
  }
  return urls;
}
