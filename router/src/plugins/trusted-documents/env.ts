import { resolve } from 'node:path';
import { z } from 'zod';
import { defineEnvFragment } from '../../../../platform/src/config/fragment.ts';
import { trustedDocumentsModes, type TrustedDocumentsPluginOptions } from './index.ts';

/** TRUSTED_DOCUMENTS (off, allow, enforce) and the manifest it reads, TRUSTED_DOCUMENTS_PATH. */
export const trustedDocumentsEnv = defineEnvFragment({
  variables: {
    TRUSTED_DOCUMENTS: z.enum(trustedDocumentsModes).optional(),
    TRUSTED_DOCUMENTS_PATH: z.string().min(1).optional(),
  },
  prefixes: ['TRUSTED_DOCUMENTS'],
  check: (vars) =>
    (vars.TRUSTED_DOCUMENTS ?? 'off') !== 'off' && vars.TRUSTED_DOCUMENTS_PATH === undefined
      ? [{ variable: 'TRUSTED_DOCUMENTS_PATH', message: 'is required when TRUSTED_DOCUMENTS is allow or enforce' }]
      : [],
  fromEnv: (vars): TrustedDocumentsPluginOptions => ({
    ...(vars.TRUSTED_DOCUMENTS ? { mode: vars.TRUSTED_DOCUMENTS } : {}),
    ...(vars.TRUSTED_DOCUMENTS_PATH ? { manifestPath: resolve(vars.TRUSTED_DOCUMENTS_PATH) } : {}),
  }),
});
