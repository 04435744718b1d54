import { z } from 'zod';
import { booleanFromEnv } from '../../../../platform/src/config.ts';
import { defineEnvFragment } from '../../../../platform/src/config/fragment.ts';
import type { RateLimitPluginOptions } from './index.ts';

/**
 * RATE_LIMIT (on by default in production, where it protects something),
 * the caller's allowance, operations' own, and TRUSTED_PROXIES.
 */
export const rateLimitEnv = defineEnvFragment({
  variables: {
    RATE_LIMIT: booleanFromEnv.optional(),
    RATE_LIMIT_POINTS: z.coerce.number().int().min(1).optional(),
    RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).optional(),
    RATE_LIMIT_OPERATIONS: z
      .string()
      .regex(
        /^\w+=\d+\/\d+(,\w+=\d+\/\d+)*$/,
        'expected OperationName=points/seconds pairs, comma-separated, such as PlaceOrder=10/60',
      )
      .optional(),
    TRUSTED_PROXIES: z.coerce.number().int().min(0).max(10).optional(),
  },
  prefixes: ['RATE_LIMIT', 'TRUSTED_PROX'],
  fromEnv: (vars, env): RateLimitPluginOptions | null => {
    if (!(vars.RATE_LIMIT ?? env.NODE_ENV === 'production')) return null;
    const perCaller =
      vars.RATE_LIMIT_POINTS !== undefined || vars.RATE_LIMIT_WINDOW_SECONDS !== undefined
        ? {
            ...(vars.RATE_LIMIT_POINTS !== undefined ? { points: vars.RATE_LIMIT_POINTS } : {}),
            ...(vars.RATE_LIMIT_WINDOW_SECONDS !== undefined ? { windowSeconds: vars.RATE_LIMIT_WINDOW_SECONDS } : {}),
          }
        : undefined;
    return {
      ...(perCaller ? { perCaller } : {}),
      ...(vars.RATE_LIMIT_OPERATIONS
        ? {
            operations: Object.fromEntries(
              vars.RATE_LIMIT_OPERATIONS.split(',').map((pair) => {
                const [name, rule] = pair.split('=') as [string, string];
                const [points, windowSeconds] = rule.split('/').map(Number) as [number, number];
                return [name, { points, windowSeconds }];
              }),
            ),
          }
        : {}),
      ...(vars.TRUSTED_PROXIES !== undefined ? { trustedProxies: vars.TRUSTED_PROXIES } : {}),
    };
  },
});
