/**
 * The workload's rule: every request carries its own Authorization, so no
 * gateway can share work between requests (request dedup, a JWT cache keyed
 * by token). Tokens are HS256 JWTs with a unique `sub`, minted ahead of each
 * run because signing (~30 µs) must not compete with the load generator.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';

export class TokenPool {
  /** Passed to our router as AUTH_JWT_SECRET; 48 random bytes, base64url. */
  readonly secret = randomBytes(48).toString('base64url');
  private key: Promise<CryptoKey>;
  private minted = 0;

  constructor() {
    // Importing the key once makes signing about twice as fast as passing raw bytes each time.
    this.key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(this.secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
  }

  /** `count` fresh `Bearer …` header values, never handed out before. */
  async take(count: number): Promise<string[]> {
    const key = await this.key;
    const headers: string[] = [];
    const batch = 1_000;
    for (let start = 0; start < count; start += batch) {
      const size = Math.min(batch, count - start);
      const signed = await Promise.all(
        Array.from({ length: size }, () =>
          new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject(`bench-user-${this.minted++}`)
            .setIssuedAt()
            .setExpirationTime('2h')
            .sign(key),
        ),
      );
      for (const token of signed) headers.push(`Bearer ${token}`);
    }
    return headers;
  }
}
