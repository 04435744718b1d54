import { SignJWT } from 'jose';

/** An HS256 token for `subject`, as the router verifies it with `AUTH_JWT_SECRET`. */
export function signTestToken(secret: string, subject: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
}
