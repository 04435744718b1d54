import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * The secrets `npm start` runs with when none are configured: made up on
 * the first run and kept beside the embedded databases (git-ignored), so
 * tokens minted by `npm run token` stay valid across restarts. Development
 * only; production sets AUTH_JWT_SECRET (or AUTH_JWKS_URL) and
 * INTERNAL_IDENTITY_SECRET itself.
 */
export interface DevelopmentSecrets {
  /** Signs and verifies client tokens (AUTH_JWT_SECRET). */
  jwtSecret: string;
  /** Signs the caller the router forwards to subgraphs (INTERNAL_IDENTITY_SECRET). */
  identitySecret: string;
}

const stored = z.object({ jwtSecret: z.string().min(32), identitySecret: z.string().min(32) });

export function developmentSecrets(dataDir: string): DevelopmentSecrets {
  const file = join(dataDir, 'dev-secrets.json');
  try {
    return stored.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`${file} is not usable; delete it`, { cause: error });
  }
  const secrets = { jwtSecret: randomSecret(), identitySecret: randomSecret() };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return secrets;
}

const randomSecret = () => randomBytes(32).toString('base64url');
