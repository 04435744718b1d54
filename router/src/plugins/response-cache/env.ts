import { z } from 'zod';
import { booleanFromEnv } from '../../../../platform/src/config.ts';
import { defineEnvFragment } from '../../../../platform/src/config/fragment.ts';
import type { ResponseCachePluginOptions } from './index.ts';

/** RESPONSE_CACHE (on unless false), its purge endpoint's token, the longest an entry lives, and the refill delay after a purge. */
export const responseCacheEnv = defineEnvFragment({
  variables: {
    RESPONSE_CACHE: booleanFromEnv.optional(),
    RESPONSE_CACHE_PURGE_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
    RESPONSE_CACHE_MAX_TTL_SECONDS: z.coerce.number().int().min(1).optional(),
    RESPONSE_CACHE_REFILL_DELAY_MS: z.coerce.number().int().min(0).max(600_000).optional(),
  },
  prefixes: ['RESPONSE_CACHE'],
  fromEnv: (vars): ResponseCachePluginOptions & { enabled: boolean } => ({
    enabled: vars.RESPONSE_CACHE ?? true,
    ...(vars.RESPONSE_CACHE_PURGE_TOKEN ? { purgeToken: vars.RESPONSE_CACHE_PURGE_TOKEN } : {}),
    ...(vars.RESPONSE_CACHE_MAX_TTL_SECONDS !== undefined
      ? { maxTtlSeconds: vars.RESPONSE_CACHE_MAX_TTL_SECONDS }
      : {}),
    ...(vars.RESPONSE_CACHE_REFILL_DELAY_MS !== undefined
      ? { refillDelayMs: vars.RESPONSE_CACHE_REFILL_DELAY_MS }
      : {}),
  }),
});
