import { z } from 'zod';
import { booleanFromEnv } from '../../../../platform/src/config.ts';
import { defineEnvFragment } from '../../../../platform/src/config/fragment.ts';
import type { ProgressiveOverridePluginOptions } from './index.ts';

/** PROGRESSIVE_OVERRIDE (on unless false), and where a request may name labels to turn on. */
export const progressiveOverrideEnv = defineEnvFragment({
  variables: {
    PROGRESSIVE_OVERRIDE: booleanFromEnv.optional(),
    OVERRIDE_LABELS_HEADER: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'expected a header name such as x-override-labels')
      .optional(),
    OVERRIDE_LABELS_CLAIM: z.string().min(1).optional(),
  },
  prefixes: ['PROGRESSIVE_OVERRIDE', 'OVERRIDE_LABELS'],
  fromEnv: (vars): ProgressiveOverridePluginOptions & { enabled: boolean } => ({
    enabled: vars.PROGRESSIVE_OVERRIDE ?? true,
    ...(vars.OVERRIDE_LABELS_HEADER ? { header: vars.OVERRIDE_LABELS_HEADER } : {}),
    ...(vars.OVERRIDE_LABELS_CLAIM ? { claim: vars.OVERRIDE_LABELS_CLAIM } : {}),
  }),
});
