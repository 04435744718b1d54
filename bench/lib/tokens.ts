/**
 * The workload's rule: every request carries its own Authorization, so no
 * gateway can share work between requests (request dedup, a JWT cache keyed
 * by token). Tokens are HS256 JWTs, minted ahead of each run because signing
 * (~30 µs) must not compete with the load generator.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';

/** One request's credentials. */
export interface Caller {
  /** `Bearer <JWT>`, never handed out before. */
  authorization: string;
  /** The token's `sub`. */
  subject: string;
}

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

  /**
   * `count` fresh tokens. Without `subjects`, each is for a caller of its
   * own (`bench-user-<n>`). With them, subjects go through the list in
   * order, from its start on every call, so every contender meets the same
   * callers in the same order; a unique `jti` still makes every token new.
   */
  async take(count: number, subjects?: readonly string[]): Promise<Caller[]> {
    if (subjects?.length === 0) throw new Error('no subjects to mint tokens for');
    const key = await this.key;
    const callers: Caller[] = [];
    const batch = 1_000;
    for (let start = 0; start < count; start += batch) {
      const size = Math.min(batch, count - start);
      const signed = await Promise.all(
        Array.from({ length: size }, async (_, offset) => {
          const serial = this.minted++;
          const subject = subjects ? subjects[(start + offset) % subjects.length]! : `bench-user-${serial}`;
          const token = await new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject(subject)
            .setJti(String(serial))
            .setIssuedAt()
            .setExpirationTime('2h')
            .sign(key);
          return { authorization: `Bearer ${token}`, subject };
        }),
      );
      callers.push(...signed);
    }
    return callers;
  }
}
