import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { booleanFromEnv, ConfigError, portFromEnv } from '../../platform/src/config.ts';
import { defineEnvFragment, parseFragments, type UnknownVariable } from '../../platform/src/config/fragment.ts';
import type { CorsOptions } from '../../platform/src/http/server.ts';
import { subgraphs } from '../../subgraphs/registry.ts';
import type { AuthenticationOptions } from './plugins/authentication/index.ts';
import { authenticationEnv } from './plugins/authentication/env.ts';
import type { QueryLimitsPluginOptions } from './plugins/query-limits/index.ts';
import { queryLimitsEnv } from './plugins/query-limits/env.ts';
import type { ProgressiveOverridePluginOptions } from './plugins/progressive-override/index.ts';
import { progressiveOverrideEnv } from './plugins/progressive-override/env.ts';
import type { RateLimitPluginOptions } from './plugins/rate-limit/index.ts';
import { rateLimitEnv } from './plugins/rate-limit/env.ts';
import type { ResponseCachePluginOptions } from './plugins/response-cache/index.ts';
import { responseCacheEnv } from './plugins/response-cache/env.ts';
import type { TrustedDocumentsPluginOptions } from './plugins/trusted-documents/index.ts';
import { trustedDocumentsEnv } from './plugins/trusted-documents/env.ts';
import { serviceEnv, type ServiceOptions } from '../../platform/src/config/service.ts';
import { defaultSubgraphPolicy, type SubgraphPolicy } from './subgraph-fetch/resilience.ts';
import type { ExecutorKind } from './graph.ts';

export interface RouterConfig extends ServiceOptions {
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
   * the SUBGRAPH_* variables, and overrides by subgraph name from
   * SUBGRAPH_OVERRIDES.
   */
  subgraphPolicy: { all: SubgraphPolicy; bySubgraph: Record<string, Partial<SubgraphPolicy>> };
  /** How long an automatic persisted query stays registered, in seconds. */
  persistedQueryTtlSeconds: number;
  /** Accept several operations in one HTTP request. */
  allowBatchedRequests: boolean;
  /** Who runs query plans (ROUTER_EXECUTOR): @apollo/gateway's executor (`stock`) or the router's (`own`). */
  executor: ExecutorKind;
  /** Browser origins allowed to call the router; null: same-origin only. */
  cors: CorsOptions | null;
  /** Verifies bearer tokens; null means every caller is anonymous. */
  authentication: AuthenticationOptions | null;
  trustedDocuments: TrustedDocumentsPluginOptions;
  limits: QueryLimitsPluginOptions;
  /** Requests per caller (verified user, else client address); null: unlimited. */
  rateLimit: RateLimitPluginOptions | null;
  responseCache: ResponseCachePluginOptions & { enabled: boolean };
  /** Which `@override(label:)` labels are on for each request. */
  progressiveOverride: ProgressiveOverridePluginOptions & { enabled: boolean };
  /** Variables with one of the router's prefixes that nothing reads: likely typos, warned of at start. */
  unknownVariables: UnknownVariable[];
}

/** Bounds of each subgraph policy setting, the same for every subgraph and for one. */
const policySchemas = {
  timeoutMs: z.number().int().min(1).max(600_000),
  retries: z.number().int().min(0).max(10),
  retryDelayMs: z.number().int().min(0).max(60_000),
  breakerErrorPercent: z.number().int().min(1).max(100),
  breakerMinRequests: z.number().int().min(1),
  // opossum counts in ten buckets: a shorter window would rotate them faster than every 100 ms.
  breakerWindowMs: z.number().int().min(1_000),
  breakerResetMs: z.number().int().min(100),
} as const satisfies Record<keyof SubgraphPolicy, z.ZodNumber>;

const subgraphNames: readonly string[] = subgraphs.map(({ name }) => name);

/**
 * SUBGRAPH_OVERRIDES: a JSON object of policy settings by subgraph name,
 * `{"reviews":{"timeoutMs":2000,"retries":0}}`, instead of a variable per
 * setting per subgraph. A name the registry does not list, or a setting
 * that does not exist, is refused by name.
 */
const subgraphOverrides = z
  .string()
  .transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'expected JSON, such as {"reviews":{"timeoutMs":2000}}' });
      return z.NEVER;
    }
  })
  .pipe(
    z.record(z.string(), z.object(policySchemas).partial().strict()).superRefine((overrides, context) => {
      for (const name of Object.keys(overrides))
        if (!subgraphNames.includes(name))
          context.addIssue({
            code: 'custom',
            message: `${name} is not a subgraph; expected one of ${subgraphNames.join(', ')}`,
          });
    }),
  );

const subgraphUrlVariable = /^([A-Z0-9_]+)_SUBGRAPH_URL$/;
const retiredPolicyVariable = /^([A-Z0-9_]+)_SUBGRAPH_(TIMEOUT_MS|RETRIES|RETRY_DELAY_MS|BREAKER_[A-Z_]+)$/;

/** A SUBGRAPH_* variable: the setting's bounds, read from text. */
const globalPolicy = (key: keyof SubgraphPolicy) => z.coerce.number().pipe(policySchemas[key]).optional();

/** The router's own variables: where it listens, what it serves, and how it treats subgraphs. */
export const routerEnv = defineEnvFragment({
  variables: {
    ROUTER_PORT: portFromEnv.default(4000),
    ROUTER_EXECUTOR: z.enum(['stock', 'own']).default('own'),
    SUPERGRAPH_PATH: z.string().min(1).default('schema/supergraph.graphql'),
    SUPERGRAPH_WATCH: booleanFromEnv.default(true),
    APQ_TTL_SECONDS: z.coerce.number().int().min(1).default(86_400),
    ALLOW_BATCHED_REQUESTS: booleanFromEnv.default(false),
    CORS_ORIGINS: z
      .string()
      .regex(
        /^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/,
        'expected comma-separated origins such as https://shop.example.com',
      )
      .optional(),
    CORS_ALLOW_CREDENTIALS: booleanFromEnv.default(false),
    SUBGRAPH_TIMEOUT_MS: globalPolicy('timeoutMs'),
    SUBGRAPH_RETRIES: globalPolicy('retries'),
    SUBGRAPH_RETRY_DELAY_MS: globalPolicy('retryDelayMs'),
    SUBGRAPH_BREAKER_ERROR_PERCENT: globalPolicy('breakerErrorPercent'),
    SUBGRAPH_BREAKER_MIN_REQUESTS: globalPolicy('breakerMinRequests'),
    SUBGRAPH_BREAKER_WINDOW_MS: globalPolicy('breakerWindowMs'),
    SUBGRAPH_BREAKER_RESET_MS: globalPolicy('breakerResetMs'),
    SUBGRAPH_OVERRIDES: subgraphOverrides.optional(),
  },
  prefixes: ['ROUTER_', 'SUPERGRAPH_', 'APQ_', 'CORS_', 'SUBGRAPH_', 'ALLOW_BATCHED'],
  fromEnv: (vars, env) => ({
    port: vars.ROUTER_PORT,
    supergraphPath: resolve(vars.SUPERGRAPH_PATH),
    watchSupergraph: vars.SUPERGRAPH_WATCH,
    subgraphUrls: subgraphUrlsFrom(env),
    subgraphPolicy: {
      // Unset ones take the default here: subgraph fetching is the router's core, not a plugin with options.
      all: {
        timeoutMs: vars.SUBGRAPH_TIMEOUT_MS ?? defaultSubgraphPolicy.timeoutMs,
        retries: vars.SUBGRAPH_RETRIES ?? defaultSubgraphPolicy.retries,
        retryDelayMs: vars.SUBGRAPH_RETRY_DELAY_MS ?? defaultSubgraphPolicy.retryDelayMs,
        breakerErrorPercent: vars.SUBGRAPH_BREAKER_ERROR_PERCENT ?? defaultSubgraphPolicy.breakerErrorPercent,
        breakerMinRequests: vars.SUBGRAPH_BREAKER_MIN_REQUESTS ?? defaultSubgraphPolicy.breakerMinRequests,
        breakerWindowMs: vars.SUBGRAPH_BREAKER_WINDOW_MS ?? defaultSubgraphPolicy.breakerWindowMs,
        breakerResetMs: vars.SUBGRAPH_BREAKER_RESET_MS ?? defaultSubgraphPolicy.breakerResetMs,
      },
      bySubgraph: vars.SUBGRAPH_OVERRIDES ?? {},
    },
    persistedQueryTtlSeconds: vars.APQ_TTL_SECONDS,
    allowBatchedRequests: vars.ALLOW_BATCHED_REQUESTS,
    executor: vars.ROUTER_EXECUTOR,
    cors: vars.CORS_ORIGINS
      ? { origins: vars.CORS_ORIGINS.split(','), credentials: vars.CORS_ALLOW_CREDENTIALS }
      : null,
  }),
});

/**
 * Reads flags first, then the environment, like Apollo Router's
 * `--supergraph`: `router --supergraph other.graphql --port 4100`. The
 * environment is a merge of fragments: the service's, the router's own,
 * and one per feature, each beside the plugin it configures.
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
  const { options, unknownVariables } = parseFragments(
    {
      service: serviceEnv(),
      router: routerEnv,
      authentication: authenticationEnv,
      trustedDocuments: trustedDocumentsEnv,
      limits: queryLimitsEnv,
      rateLimit: rateLimitEnv,
      responseCache: responseCacheEnv,
      progressiveOverride: progressiveOverrideEnv,
    },
    {
      ...env,
      ...(flags.supergraph !== undefined ? { SUPERGRAPH_PATH: flags.supergraph } : {}),
      ...(flags.port !== undefined ? { ROUTER_PORT: flags.port } : {}),
      ...(flags.host !== undefined ? { HOST: flags.host } : {}),
    },
  );
  return {
    ...options.service,
    ...options.router,
    authentication: options.authentication,
    trustedDocuments: options.trustedDocuments,
    limits: options.limits,
    rateLimit: options.rateLimit,
    responseCache: options.responseCache,
    progressiveOverride: options.progressiveOverride,
    unknownVariables,
  };
}

function subgraphUrlsFrom(env: NodeJS.ProcessEnv): Record<string, string> {
  const urls: Record<string, string> = {};
  const problems: string[] = [];
  for (const [variable, value] of Object.entries(env)) {
    const retired = retiredPolicyVariable.exec(variable);
    if (retired)
      problems.push(
        `  ${variable}: per-subgraph settings moved to SUBGRAPH_OVERRIDES, such as ` +
          `SUBGRAPH_OVERRIDES='{"${retired[1]!.toLowerCase().replaceAll('_', '-')}":{"timeoutMs":2000}}'`,
      );
    const match = subgraphUrlVariable.exec(variable);
    if (!match || !value) continue;
    const url = z.url({ protocol: /^https?$/ }).safeParse(value);
    if (!url.success) problems.push(`  ${variable}: expected an http(s) URL`);
    else urls[match[1]!] = url.data;
  }
  if (problems.length > 0) throw new ConfigError(`Invalid environment:\n${problems.join('\n')}`);
  return urls;
}
