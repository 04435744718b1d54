import { z } from 'zod';
import { booleanFromEnv } from '../../../../platform/src/config.ts';
import { defineEnvFragment } from '../../../../platform/src/config/fragment.ts';
import type { QueryLimitsPluginOptions } from './index.ts';

/** QUERY_MAX_* and QUERY_COST_EXEMPT_TRUSTED; each unset one keeps its default (defaultQueryLimits). */
export const queryLimitsEnv = defineEnvFragment({
  variables: {
    QUERY_MAX_DEPTH: z.coerce.number().int().min(1).optional(),
    QUERY_MAX_ALIASES: z.coerce.number().int().min(0).optional(),
    QUERY_MAX_DIRECTIVES: z.coerce.number().int().min(0).optional(),
    QUERY_MAX_TOKENS: z.coerce.number().int().min(10).optional(),
    QUERY_MAX_COST: z.coerce.number().int().min(1).optional(),
    QUERY_COST_EXEMPT_TRUSTED: booleanFromEnv.optional(),
  },
  prefixes: ['QUERY_'],
  fromEnv: (vars): QueryLimitsPluginOptions => ({
    ...(vars.QUERY_MAX_DEPTH !== undefined ? { maxDepth: vars.QUERY_MAX_DEPTH } : {}),
    ...(vars.QUERY_MAX_ALIASES !== undefined ? { maxAliases: vars.QUERY_MAX_ALIASES } : {}),
    ...(vars.QUERY_MAX_DIRECTIVES !== undefined ? { maxDirectives: vars.QUERY_MAX_DIRECTIVES } : {}),
    ...(vars.QUERY_MAX_TOKENS !== undefined ? { maxTokens: vars.QUERY_MAX_TOKENS } : {}),
    ...(vars.QUERY_MAX_COST !== undefined ? { maxCost: vars.QUERY_MAX_COST } : {}),
    ...(vars.QUERY_COST_EXEMPT_TRUSTED !== undefined ? { costExemptTrusted: vars.QUERY_COST_EXEMPT_TRUSTED } : {}),
  }),
});
