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
import type { CorsOptions } from '../../platform/src/http/server.ts';
import {
  drainFitsShutdownTimeout,
  drainFitsShutdownTimeoutIssue,
  lifecycleEnv,
  lifecycleFrom,
  type LifecycleSettings,
} from '../../platform/src/lifecycle.ts';
import { metricsPortFrom, type MetricsListen } from '../../platform/src/metrics.ts';
import type { AuthenticationOptions, TokenKeys } from './plugins/authentication/index.ts';
import { defaultQueryLimits, type QueryLimits } from './plugins/query-limits/index.ts';
import type { RateLimitRule } from './plugins/rate-limit/index.ts';
import { trustedDocumentsModes, type TrustedDocumentsMode } from './plugins/trusted-documents/index.ts';
import { defaultSubgraphPolicy, type SubgraphPolicy } from './subgraph-fetch/resilience.ts';

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
  /**
   * Timeouts, retries and circuit breaking of subgraph fetches: `all` from
   * the SUBGRAPH_* variables, and overrides from <NAME>_SUBGRAPH_* keyed by
   * the subgraph's env prefix, like `subgraphUrls`.
   */
  subgraphPolicy: { all: SubgraphPolicy; bySubgraph: Record<string, Partial<SubgraphPolicy>> };
  /** Shared cache for every router instance; unset keeps the cache in this process. */
  redisUrl: string | null;
  /** How long an automatic persisted query stays registered, in seconds. */
  persistedQueryTtlSeconds: number;
  /** Verifies bearer tokens; null means every caller is anonymous. */
  authentication: AuthenticationOptions | null;
  /**
   * Signs the verified caller for the subgraphs (platform/src/identity.ts);
   * they must share it. Null: subgraphs see every caller as anonymous.
   */
  identitySecret: string | null;
  responseCache: {
    enabled: boolean;
    /** Bearer token for the purge endpoint; null leaves the endpoint off. */
    purgeToken: string | null;
    /** Upper bound on any entry's lifetime, in seconds. */
    maxTtlSeconds: number;
  };
  trustedDocuments: { mode: TrustedDocumentsMode; manifestPath: string | null };
  limits: QueryLimits;
  /** Accept several operations in one HTTP request. */
  allowBatchedRequests: boolean;
  /** Browser origins allowed to call the router; null: same-origin only. */
  cors: CorsOptions | null;
  /** Prefix of the event stream names, as the subgraphs use it (EVENT_STREAM_PREFIX); '' for none. */
  eventStreamPrefix: string;
  /** Requests per caller (verified user, else client address); null: unlimited. */
  rateLimit: {
    perCaller: RateLimitRule;
    operations: Record<string, RateLimitRule>;
    trustedProxies: number;
  } | null;
  /** Draining and the bound on stopping (the router waits for nothing at start but its supergraph). */
  lifecycle: LifecycleSettings;
  /** Where `GET /metrics` is served, apart from the public port. */
  metrics: MetricsListen;
  logLevel: z.infer<typeof logLevelFromEnv>;
  logPretty: boolean;
}

const subgraphUrlVariable = /^([A-Z0-9_]+)_SUBGRAPH_URL$/;

/** The SUBGRAPH_* settings; each can also be set for one subgraph, as <NAME>_SUBGRAPH_*. */
const subgraphPolicyVariables = {
  TIMEOUT_MS: { key: 'timeoutMs', schema: z.coerce.number().int().min(1).max(600_000) },
  RETRIES: { key: 'retries', schema: z.coerce.number().int().min(0).max(10) },
  RETRY_DELAY_MS: { key: 'retryDelayMs', schema: z.coerce.number().int().min(0).max(60_000) },
  BREAKER_ERROR_PERCENT: { key: 'breakerErrorPercent', schema: z.coerce.number().int().min(1).max(100) },
  BREAKER_MIN_REQUESTS: { key: 'breakerMinRequests', schema: z.coerce.number().int().min(1) },
  // opossum counts in ten buckets: a shorter window would rotate them faster than every 100 ms.
  BREAKER_WINDOW_MS: { key: 'breakerWindowMs', schema: z.coerce.number().int().min(1_000) },
  BREAKER_RESET_MS: { key: 'breakerResetMs', schema: z.coerce.number().int().min(100) },
} as const satisfies Record<string, { key: keyof SubgraphPolicy; schema: z.ZodType<number, unknown> }>;

const subgraphPolicyVariable = new RegExp(
  `^([A-Z0-9_]+)_SUBGRAPH_(${Object.keys(subgraphPolicyVariables).join('|')})$`,
);

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
      METRICS_HOST: z.string().min(1).default('127.0.0.1'),
      METRICS_PORT: portFromEnv.optional(),
      SUPERGRAPH_PATH: z.string().min(1).default('schema/supergraph.graphql'),
      SUPERGRAPH_WATCH: booleanFromEnv.default(true),
      REDIS_URL: z
        .string()
        .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
        .optional(),
      APQ_TTL_SECONDS: z.coerce.number().int().min(1).default(86_400),
      AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
      AUTH_JWKS_URL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
      AUTH_JWT_ALGORITHMS: z
        .string()
        .regex(
          /^(RS|PS|ES)(256|384|512)(,(RS|PS|ES)(256|384|512))*$/,
          'expected a comma-separated list such as RS256,ES256',
        )
        .optional(),
      AUTH_JWKS_COOLDOWN_SECONDS: z.coerce.number().int().min(1).default(30),
      INTERNAL_IDENTITY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
      AUTH_JWT_ISSUER: z.string().min(1).optional(),
      AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
      RESPONSE_CACHE: booleanFromEnv.default(true),
      RESPONSE_CACHE_PURGE_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
      RESPONSE_CACHE_MAX_TTL_SECONDS: z.coerce.number().int().min(1).default(3600),
      TRUSTED_DOCUMENTS: z.enum(trustedDocumentsModes).default('off'),
      QUERY_MAX_DEPTH: z.coerce.number().int().min(1).default(defaultQueryLimits.maxDepth),
      QUERY_MAX_ALIASES: z.coerce.number().int().min(0).default(defaultQueryLimits.maxAliases),
      QUERY_MAX_DIRECTIVES: z.coerce.number().int().min(0).default(defaultQueryLimits.maxDirectives),
      QUERY_MAX_TOKENS: z.coerce.number().int().min(10).default(defaultQueryLimits.maxTokens),
      QUERY_MAX_COST: z.coerce.number().int().min(1).default(defaultQueryLimits.maxCost),
      QUERY_COST_EXEMPT_TRUSTED: booleanFromEnv.default(defaultQueryLimits.costExemptTrusted),
      ALLOW_BATCHED_REQUESTS: booleanFromEnv.default(false),
      CORS_ORIGINS: z
        .string()
        .regex(
          /^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/,
          'expected comma-separated origins such as https://shop.example.com',
        )
        .optional(),
      CORS_ALLOW_CREDENTIALS: booleanFromEnv.default(false),
      RATE_LIMIT: booleanFromEnv.optional(),
      RATE_LIMIT_POINTS: z.coerce.number().int().min(1).default(600),
      RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),
      RATE_LIMIT_OPERATIONS: z
        .string()
        .regex(
          /^\w+=\d+\/\d+(,\w+=\d+\/\d+)*$/,
          'expected OperationName=points/seconds pairs, comma-separated, such as PlaceOrder=10/60',
        )
        .optional(),
      TRUSTED_PROXIES: z.coerce.number().int().min(0).max(10).default(0),
      SUBGRAPH_TIMEOUT_MS: subgraphPolicyVariables.TIMEOUT_MS.schema.default(defaultSubgraphPolicy.timeoutMs),
      SUBGRAPH_RETRIES: subgraphPolicyVariables.RETRIES.schema.default(defaultSubgraphPolicy.retries),
      SUBGRAPH_RETRY_DELAY_MS: subgraphPolicyVariables.RETRY_DELAY_MS.schema.default(
        defaultSubgraphPolicy.retryDelayMs,
      ),
      SUBGRAPH_BREAKER_ERROR_PERCENT: subgraphPolicyVariables.BREAKER_ERROR_PERCENT.schema.default(
        defaultSubgraphPolicy.breakerErrorPercent,
      ),
      SUBGRAPH_BREAKER_MIN_REQUESTS: subgraphPolicyVariables.BREAKER_MIN_REQUESTS.schema.default(
        defaultSubgraphPolicy.breakerMinRequests,
      ),
      SUBGRAPH_BREAKER_WINDOW_MS: subgraphPolicyVariables.BREAKER_WINDOW_MS.schema.default(
        defaultSubgraphPolicy.breakerWindowMs,
      ),
      SUBGRAPH_BREAKER_RESET_MS: subgraphPolicyVariables.BREAKER_RESET_MS.schema.default(
        defaultSubgraphPolicy.breakerResetMs,
      ),
      EVENT_STREAM_PREFIX: z
        .string()
        .regex(/^[\w.-]*$/, 'expected letters, digits, `.`, `_` or `-`')
        .default(''),
      TRUSTED_DOCUMENTS_PATH: z.string().min(1).optional(),
      LOG_LEVEL: logLevelFromEnv,
      LOG_PRETTY: booleanFromEnv.default(false),
      ...lifecycleEnv,
    })
    .refine(drainFitsShutdownTimeout, drainFitsShutdownTimeoutIssue)
    .refine((vars) => !(vars.AUTH_JWT_SECRET && vars.AUTH_JWKS_URL), {
      message: 'cannot be set together with AUTH_JWT_SECRET: tokens are verified one way',
      path: ['AUTH_JWKS_URL'],
    })
    .refine((vars) => vars.AUTH_JWT_ALGORITHMS === undefined || vars.AUTH_JWKS_URL !== undefined, {
      message: 'applies to JWKS keys only; set AUTH_JWKS_URL (a secret always means HS256)',
      path: ['AUTH_JWT_ALGORITHMS'],
    })
    .refine((vars) => vars.TRUSTED_DOCUMENTS === 'off' || vars.TRUSTED_DOCUMENTS_PATH !== undefined, {
      message: 'is required when TRUSTED_DOCUMENTS is allow or enforce',
      path: ['TRUSTED_DOCUMENTS_PATH'],
    })
    .transform((vars): RouterConfig => ({
      nodeEnv: vars.NODE_ENV,
      host: vars.HOST,
      port: vars.ROUTER_PORT,
      supergraphPath: resolve(vars.SUPERGRAPH_PATH),
      watchSupergraph: vars.SUPERGRAPH_WATCH,
      subgraphUrls: subgraphUrlsFrom(env),
      subgraphPolicy: {
        all: {
          timeoutMs: vars.SUBGRAPH_TIMEOUT_MS,
          retries: vars.SUBGRAPH_RETRIES,
          retryDelayMs: vars.SUBGRAPH_RETRY_DELAY_MS,
          breakerErrorPercent: vars.SUBGRAPH_BREAKER_ERROR_PERCENT,
          breakerMinRequests: vars.SUBGRAPH_BREAKER_MIN_REQUESTS,
          breakerWindowMs: vars.SUBGRAPH_BREAKER_WINDOW_MS,
          breakerResetMs: vars.SUBGRAPH_BREAKER_RESET_MS,
        },
        bySubgraph: subgraphPoliciesFrom(env),
      },
      redisUrl: vars.REDIS_URL ?? null,
      persistedQueryTtlSeconds: vars.APQ_TTL_SECONDS,
      authentication: authenticationFrom(vars),
      identitySecret: vars.INTERNAL_IDENTITY_SECRET ?? null,
      responseCache: {
        enabled: vars.RESPONSE_CACHE,
        purgeToken: vars.RESPONSE_CACHE_PURGE_TOKEN ?? null,
        maxTtlSeconds: vars.RESPONSE_CACHE_MAX_TTL_SECONDS,
      },
      trustedDocuments: {
        mode: vars.TRUSTED_DOCUMENTS,
        manifestPath: vars.TRUSTED_DOCUMENTS_PATH ? resolve(vars.TRUSTED_DOCUMENTS_PATH) : null,
      },
      limits: {
        maxDepth: vars.QUERY_MAX_DEPTH,
        maxAliases: vars.QUERY_MAX_ALIASES,
        maxDirectives: vars.QUERY_MAX_DIRECTIVES,
        maxTokens: vars.QUERY_MAX_TOKENS,
        maxCost: vars.QUERY_MAX_COST,
        costExemptTrusted: vars.QUERY_COST_EXEMPT_TRUSTED,
      },
      allowBatchedRequests: vars.ALLOW_BATCHED_REQUESTS,
      eventStreamPrefix: vars.EVENT_STREAM_PREFIX,
      // On by default where it protects something: production.
      rateLimit:
        (vars.RATE_LIMIT ?? vars.NODE_ENV === 'production')
          ? {
              perCaller: { points: vars.RATE_LIMIT_POINTS, windowSeconds: vars.RATE_LIMIT_WINDOW_SECONDS },
              operations: Object.fromEntries(
                (vars.RATE_LIMIT_OPERATIONS?.split(',') ?? []).map((pair) => {
                  const [name, rule] = pair.split('=') as [string, string];
                  const [points, windowSeconds] = rule.split('/').map(Number) as [number, number];
                  return [name, { points, windowSeconds }];
                }),
              ),
              trustedProxies: vars.TRUSTED_PROXIES,
            }
          : null,
      cors: vars.CORS_ORIGINS
        ? { origins: vars.CORS_ORIGINS.split(','), credentials: vars.CORS_ALLOW_CREDENTIALS }
        : null,
      lifecycle: lifecycleFrom(vars),
      metrics: {
        host: vars.METRICS_HOST,
        port: metricsPortFrom(vars.METRICS_PORT, vars.NODE_ENV === 'production', 0),
      },
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

/** The <NAME>_SUBGRAPH_* overrides, keyed by env prefix, checked as their SUBGRAPH_* counterparts are. */
function subgraphPoliciesFrom(env: NodeJS.ProcessEnv): Record<string, Partial<SubgraphPolicy>> {
  const policies: Record<string, Partial<SubgraphPolicy>> = {};
  const problems: string[] = [];
  for (const [variable, value] of Object.entries(env)) {
    const match = subgraphPolicyVariable.exec(variable);
    if (!match || !value) continue;
    const { key, schema } = subgraphPolicyVariables[match[2] as keyof typeof subgraphPolicyVariables];
    const parsed = schema.safeParse(value);
    if (parsed.success) (policies[match[1]!] ??= {})[key] = parsed.data;
    else problems.push(`  ${variable}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  }
  if (problems.length > 0) throw new ConfigError(`Invalid environment:\n${problems.join('\n')}`);
  return policies;
}

function authenticationFrom(vars: {
  AUTH_JWT_SECRET?: string | undefined;
  AUTH_JWKS_URL?: string | undefined;
  AUTH_JWT_ALGORITHMS?: string | undefined;
  AUTH_JWKS_COOLDOWN_SECONDS: number;
  AUTH_JWT_ISSUER?: string | undefined;
  AUTH_JWT_AUDIENCE?: string | undefined;
}): AuthenticationOptions | null {
  let keys: TokenKeys;
  if (vars.AUTH_JWT_SECRET) keys = { kind: 'secret', secret: vars.AUTH_JWT_SECRET };
  else if (vars.AUTH_JWKS_URL)
    keys = {
      kind: 'jwks',
      url: vars.AUTH_JWKS_URL,
      cooldownSeconds: vars.AUTH_JWKS_COOLDOWN_SECONDS,
      ...(vars.AUTH_JWT_ALGORITHMS ? { algorithms: vars.AUTH_JWT_ALGORITHMS.split(',') } : {}),
    };
  else return null;
  return { keys, issuer: vars.AUTH_JWT_ISSUER, audience: vars.AUTH_JWT_AUDIENCE };
}
