import { createHmac, createSecretKey } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';

/** The caller, as the router proved it from the client's token. */
export interface Viewer {
  /** The token's `sub`. */
  id: string;
  scopes: readonly string[];
  /**
   * Every claim of the verified token, for router features that read one of
   * their own (progressive override's labels). Only the router has them:
   * the identity it signs for subgraphs carries the id and scopes alone.
   */
  claims?: Readonly<Record<string, unknown>>;
}

/**
 * The header that carries the verified caller from the router to the
 * subgraphs: a short-lived HS256 JWT signed with the secret they share.
 * The router always sets or removes it itself, so a client cannot send one
 * through; a subgraph refuses any copy it cannot verify.
 */
export const identityHeader = 'x-verified-identity';

const issuer = 'shop-graph-router';
const audience = 'shop-graph-subgraphs';
/** Long enough for any query plan, short enough that a leaked header is soon useless. */
const lifetimeSeconds = 120;

export class IdentityError extends Error {}

export interface IdentitySigner {
  /** The header value for `viewer`, signed at most once a minute per viewer. */
  sign(viewer: Viewer): Promise<string>;
}

export interface IdentityVerifier {
  /** The viewer a header proves; null for no header (an anonymous caller). Throws IdentityError on a bad one. */
  verify(header: string | undefined): Promise<Viewer | null>;
}

function checkSecret(secret: string) {
  if (secret.length < 32) throw new Error('the internal identity secret must be at least 32 characters');
}

const cacheKeyOf = (viewer: Viewer) => `${viewer.id}\n${viewer.scopes.join(' ')}`;

/**
 * Signs with node:crypto's HMAC rather than jose's SignJWT. jose signs
 * through WebCrypto, whose every call is an asynchronous job on the thread
 * pool; the router signs once per new caller on the request path, where
 * that job cost more than the rest of the signature. The token is a plain
 * compact HS256 JWS, verified by jose on the subgraph side.
 */
export async function createIdentitySigner(secret: string): Promise<IdentitySigner> {
  checkSecret(secret);
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  const header = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url');
  // Reused until half their lifetime is gone, so busy viewers cost one signature a minute.
  const signed = new LRUCache<string, { token: string; renewAt: number }>({ max: 10_000 });
  return {
    async sign(viewer) {
      const cacheKey = cacheKeyOf(viewer);
      const known = signed.get(cacheKey);
      if (known && Date.now() < known.renewAt) return known.token;
      const issuedAt = Math.floor(Date.now() / 1000);
      const claims = {
        scope: viewer.scopes.join(' '),
        sub: viewer.id,
        iss: issuer,
        aud: audience,
        iat: issuedAt,
        exp: issuedAt + lifetimeSeconds,
      };
      const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      const token = `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
      signed.set(cacheKey, { token, renewAt: Date.now() + (lifetimeSeconds * 1000) / 2 });
      return token;
    },
  };
}

export async function createIdentityVerifier(secret: string): Promise<IdentityVerifier> {
  checkSecret(secret);
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const verified = new LRUCache<string, { viewer: Viewer; expiresAt: number }>({ max: 10_000 });
  return {
    async verify(header) {
      if (header === undefined) return null;
      const known = verified.get(header);
      if (known && Date.now() < known.expiresAt) return known.viewer;
      try {
        const { payload } = await jwtVerify(header, key, {
          algorithms: ['HS256'],
          issuer,
          audience,
          requiredClaims: ['sub', 'exp'],
          clockTolerance: 5,
        });
        const scope = typeof payload.scope === 'string' ? payload.scope : '';
        const viewer: Viewer = { id: payload.sub!, scopes: scope.split(' ').filter(Boolean) };
        verified.set(header, { viewer, expiresAt: payload.exp! * 1000 });
        return viewer;
      } catch (error) {
        if (error instanceof joseErrors.JOSEError) throw new IdentityError('the forwarded identity is not valid');
        throw error;
      }
    },
  };
}

/** A subgraph without the secret can verify nothing: any identity header is refused. */
export const noIdentityVerifier: IdentityVerifier = {
  async verify(header) {
    if (header === undefined) return null;
    throw new IdentityError('this subgraph has no identity secret, so it cannot accept a forwarded identity');
  },
};
