import { z } from 'zod';
import { defineEnvFragment } from '../../../../platform/src/config/fragment.ts';
import type { AuthenticationOptions, TokenKeys } from './index.ts';

/** AUTH_*: how bearer tokens are verified; neither a secret nor a JWKS URL leaves every caller anonymous. */
export const authenticationEnv = defineEnvFragment({
  variables: {
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AUTH_JWKS_URL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    AUTH_JWT_ALGORITHMS: z
      .string()
      .regex(
        /^(RS|PS|ES)(256|384|512)(,(RS|PS|ES)(256|384|512))*$/,
        'expected a comma-separated list such as RS256,ES256',
      )
      .optional(),
    AUTH_JWKS_COOLDOWN_SECONDS: z.coerce.number().int().min(1).optional(),
    AUTH_JWT_ISSUER: z.string().min(1).optional(),
    AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
  },
  prefixes: ['AUTH_'],
  check: (vars) => [
    ...(vars.AUTH_JWT_SECRET && vars.AUTH_JWKS_URL
      ? [
          {
            variable: 'AUTH_JWKS_URL',
            message: 'cannot be set together with AUTH_JWT_SECRET: tokens are verified one way',
          },
        ]
      : []),
    ...(vars.AUTH_JWT_ALGORITHMS !== undefined && vars.AUTH_JWKS_URL === undefined
      ? [
          {
            variable: 'AUTH_JWT_ALGORITHMS',
            message: 'applies to JWKS keys only; set AUTH_JWKS_URL (a secret always means HS256)',
          },
        ]
      : []),
  ],
  fromEnv: (vars): AuthenticationOptions | null => {
    let keys: TokenKeys;
    if (vars.AUTH_JWT_SECRET) keys = { kind: 'secret', secret: vars.AUTH_JWT_SECRET };
    else if (vars.AUTH_JWKS_URL)
      keys = {
        kind: 'jwks',
        url: vars.AUTH_JWKS_URL,
        ...(vars.AUTH_JWKS_COOLDOWN_SECONDS !== undefined ? { cooldownSeconds: vars.AUTH_JWKS_COOLDOWN_SECONDS } : {}),
        ...(vars.AUTH_JWT_ALGORITHMS ? { algorithms: vars.AUTH_JWT_ALGORITHMS.split(',') } : {}),
      };
    else return null;
    return {
      keys,
      ...(vars.AUTH_JWT_ISSUER ? { issuer: vars.AUTH_JWT_ISSUER } : {}),
      ...(vars.AUTH_JWT_AUDIENCE ? { audience: vars.AUTH_JWT_AUDIENCE } : {}),
    };
  },
});
