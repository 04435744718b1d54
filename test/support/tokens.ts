import { SignJWT } from 'jose';

/** An HS256 token for `subject`, as the router verifies it with `AUTH_JWT_SECRET`. */
export function signTestToken(secret: string, subject: string, scopes: readonly string[] = []): Promise<string> {
  return new SignJWT(scopes.length > 0 ? { scope: scopes.join(' ') } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
}

/** What test routers and test subgraphs share to sign and verify the forwarded caller. */
export const testIdentitySecret = 'test-internal-identity-secret-0123456789';

/** What test routers verify client tokens with, when a test turns authentication on. */
export const testJwtSecret = 'test-client-token-secret-0123456789abcdef';
