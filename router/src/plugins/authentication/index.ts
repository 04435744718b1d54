import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { createDecoder, createVerifier, TokenError } from 'fast-jwt';

import { unauthenticatedResponse } from '../../../../platform/src/errors.ts';
import { createIdentitySigner, type Viewer } from '../../../../platform/src/identity.ts';
import type { RouterPlugin } from '../plugin.ts';

export type { Viewer };

/** Where signing keys come from: a shared secret, or an identity provider's JWKS. */
export type TokenKeys =
  | {
      kind: 'secret';
      /** HS256 shared secret, at least 32 bytes. For development and single-party setups. */
      secret: string;
    }
  | {
      kind: 'jwks';
      /** The identity provider's JSON Web Key Set URL. */
      url: string;
      /**
       * Accepted algorithms, pinned; a token naming any other is refused.
       * @default ['RS256', 'ES256']
       */
      algorithms?: readonly string[];
      /**
       * After a fetch, a token with an unknown `kid` does not trigger another
       * for this long, so a flood of made-up key ids costs one fetch.
       * @default 30
       */
      cooldownSeconds?: number;
      /**
       * Keys are refetched when older than this.
       * @default 600 (10 min)
       */
      cacheMaxAgeSeconds?: number;
      /**
       * A JWKS fetch that takes longer fails.
       * @default 5
       */
      timeoutSeconds?: number;
    };

export interface AuthenticationOptions {
  /** Where signing keys come from (no default: without keys, leave the plugin out). */
  keys: TokenKeys;
  /**
   * Required `iss`.
   * @default undefined: any issuer
   */
  issuer?: string | undefined;
  /**
   * Required `aud`.
   * @default undefined: any audience
   */
  audience?: string | undefined;
  /**
   * Allowed clock skew for `exp` and `nbf`, in seconds.
   * @default 30
   */
  clockToleranceSeconds?: number;
  /**
   * Verified tokens remembered, so a client's next request skips the signature check.
   * @default 10000
   */
  verifiedTokenCacheSize?: number;
}

/** A token was presented and is not acceptable; the router answers 401. */
export class AuthenticationError extends Error {}

export interface Authenticator {
  /** The viewer a request's `Authorization` header proves; null when there is none. */
  authenticate(authorization: string | undefined): Promise<Viewer | null>;
}

/** Anyone without a token is anonymous; a token is never trusted unverified. */
export const anonymousOnly: Authenticator = {
  authenticate: async () => null,
};

/**
 * Verifies bearer JWTs against a shared secret (HS256) or an identity
 * provider's JWKS (fetched on demand, cached, with a cooldown).
 * Algorithms are pinned, so a token cannot choose `none`, or an HMAC over
 * a public key; `exp` is required and `exp`/`nbf` are checked with a small
 * clock tolerance. Verified tokens are remembered until they expire.
 *
 * Two libraries, one per kind of key: jose for JWKS, whose remote key set
 * handles fetching, cooldown and key rotation; fast-jwt for a shared
 * secret, because it checks an HMAC with node:crypto synchronously where
 * jose goes through WebCrypto, an asynchronous thread-pool job per token.
 * Measured on a 2-core machine: about 7 µs of CPU a token against 40–85 µs,
 * paid by every new token on the request path.
 */
export async function createAuthenticator({
  keys,
  issuer,
  audience,
  clockToleranceSeconds = 30,
  verifiedTokenCacheSize = 10_000,
}: AuthenticationOptions): Promise<Authenticator> {
  const verify = tokenVerifierOf(keys, { issuer, audience, clockToleranceSeconds });
  const verified = new LRUCache<string, { viewer: Viewer; expiresAt: number; notBefore: number }>({
    max: verifiedTokenCacheSize,
  });

  return {
    async authenticate(authorization) {
      if (authorization === undefined || authorization === '') return null;
      const match = /^Bearer +([A-Za-z0-9_.~+/=-]+)$/i.exec(authorization);
      if (!match) throw new AuthenticationError('The Authorization header must be "Bearer <token>".');
      const token = match[1]!;
      const now = Date.now();
      const known = verified.get(token);
      if (known) {
        if (
          now < known.expiresAt + clockToleranceSeconds * 1000 &&
          now >= known.notBefore - clockToleranceSeconds * 1000
        )
          return known.viewer;
        verified.delete(token);
      }
      const payload = await verify(token);
      const viewer = viewerOf(payload);
      verified.set(token, { viewer, expiresAt: payload.exp! * 1000, notBefore: (payload.nbf ?? 0) * 1000 });
      return viewer;
    },
  };
}

/** Checks a token's signature and its `iss`, `aud`, `exp` and `nbf`; throws AuthenticationError saying why not. */
type TokenVerifier = (token: string) => JWTPayload | Promise<JWTPayload>;

function tokenVerifierOf(
  keys: TokenKeys,
  claims: { issuer: string | undefined; audience: string | undefined; clockToleranceSeconds: number },
): TokenVerifier {
  const requiredClaims = ['sub', 'exp'];
  switch (keys.kind) {
    case 'secret': {
      const verifySync = createVerifier({
        key: keys.secret,
        algorithms: ['HS256'],
        allowedIss: claims.issuer,
        allowedAud: claims.audience,
        clockTolerance: claims.clockToleranceSeconds * 1000,
        requiredClaims,
      });
      return (token) => {
        try {
          return verifySync(token) as JWTPayload;
        } catch (error) {
          throw new AuthenticationError(describeFastJwtRejection(error, token));
        }
      };
    }
    case 'jwks': {
      const algorithms = [...(keys.algorithms ?? ['RS256', 'ES256'])];
      const symmetric = algorithms.filter((algorithm) => algorithm.startsWith('HS'));
      // A JWKS holds public keys; accepting HMAC over one would let anyone sign.
      if (symmetric.length > 0) throw new Error(`JWKS keys cannot verify ${symmetric.join(', ')} tokens`);
      const keySet = createRemoteJWKSet(new URL(keys.url), {
        cooldownDuration: (keys.cooldownSeconds ?? 30) * 1000,
        cacheMaxAge: (keys.cacheMaxAgeSeconds ?? 600) * 1000,
        timeoutDuration: (keys.timeoutSeconds ?? 5) * 1000,
      });
      return async (token) => {
        try {
          const { payload } = await jwtVerify(token, keySet, {
            algorithms,
            issuer: claims.issuer,
            audience: claims.audience,
            clockTolerance: claims.clockToleranceSeconds,
            requiredClaims,
          });
          return payload;
        } catch (error) {
          throw new AuthenticationError(describeJoseRejection(error));
        }
      };
    }
  }
}

/** Longest `sub` accepted: identity providers issue ids of a few dozen characters. */
const maxSubjectLength = 255;

/**
 * The viewer a verified token names. jose checks the signature and the
 * time claims; the claims the router reads are checked here, since a
 * token from the trusted issuer can still carry a number, an object or
 * a list where a string belongs, and that is the token's fault, not the
 * router's: 401, never 500.
 */
function viewerOf(payload: JWTPayload): Viewer {
  const { sub, scope, scp } = payload as { sub?: unknown; scope?: unknown; scp?: unknown };
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > maxSubjectLength || /\p{Cc}/u.test(sub))
    throw new AuthenticationError(`The token's "sub" claim must be a non-empty string of printable characters.`);
  if (scope !== undefined && typeof scope !== 'string')
    throw new AuthenticationError(`The token's "scope" claim must be a space-separated string.`);
  if (scp !== undefined && !(Array.isArray(scp) && scp.every((item) => typeof item === 'string')))
    throw new AuthenticationError(`The token's "scp" claim must be a list of strings.`);
  const scopes = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : Array.isArray(scp) ? scp : [];
  return { id: sub, scopes, claims: payload };
}

/** Says what is wrong without echoing the token or the expected values. */
function describeJoseRejection(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'The token has expired.';
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `The token's "${error.claim}" claim is not accepted.`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'The token is not signed with an accepted algorithm.';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'The token signature is invalid.';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'The token is signed with an unknown key.';
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid)
    return 'The token could not be verified: the signing keys are unavailable.';
  return 'The token is malformed.';
}

/** The same, for fast-jwt's errors, which name a claim only in their message. */
function describeFastJwtRejection(error: unknown, token: string): string {
  if (!(error instanceof TokenError)) return 'The token is malformed.';
  // fast-jwt looks for a signature before the algorithm: an unsigned `alg: none` token is refused for its algorithm.
  if (error.code === TokenError.codes.missingSignature && algorithmOf(token) !== 'HS256')
    return 'The token is not signed with an accepted algorithm.';
  const claim = /\b(?:The|of) (\w+) claim/.exec(error.message)?.[1];
  switch (error.code) {
    case TokenError.codes.expired:
      return 'The token has expired.';
    case TokenError.codes.inactive:
      return `The token's "nbf" claim is not accepted.`;
    case TokenError.codes.invalidAlgorithm:
      return 'The token is not signed with an accepted algorithm.';
    case TokenError.codes.invalidSignature:
    case TokenError.codes.missingSignature:
      return 'The token signature is invalid.';
    case TokenError.codes.missingRequiredClaim:
    case TokenError.codes.invalidClaimType:
    case TokenError.codes.invalidClaimValue:
      return claim ? `The token's "${claim}" claim is not accepted.` : "The token's claims are not accepted.";
    default:
      return 'The token is malformed.';
  }
}

export interface AuthenticationPluginOptions extends AuthenticationOptions {
  /**
   * Signs the verified caller for the subgraphs (platform/src/identity.ts),
   * which must share it.
   * @default null: subgraphs see every caller as anonymous
   */
  identitySecret?: string | null;
}

/**
 * Who is calling: a bearer token that verifies makes the request's viewer,
 * none leaves it anonymous, and one that does not verify is answered 401
 * before anything else runs. The viewer is signed for the subgraphs, which
 * enforce `@authenticated` and `@requiresScopes` on it.
 */
export function authenticationPlugin({ identitySecret = null, ...options }: AuthenticationPluginOptions): RouterPlugin {
  let authenticator: Authenticator = anonymousOnly;
  let sign: ((viewer: Viewer) => Promise<string>) | null = null;
  return {
    name: 'authentication',
    async setup() {
      authenticator = await createAuthenticator(options);
      if (identitySecret) {
        const signer = await createIdentitySigner(identitySecret);
        sign = (viewer) => signer.sign(viewer);
      }
    },
    async onRequest(request) {
      try {
        request.viewer = await authenticator.authenticate(request.http.headers.get('authorization'));
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        return unauthenticatedResponse(error.message);
      }
    },
    // Anonymous requests return at once: no promise on the path most requests take.
    context({ viewer }) {
      if (!viewer || !sign) return { identity: null };
      return sign(viewer).then((identity) => ({ identity }));
    },
  };
}

const decodeHeader = createDecoder({ complete: true });

function algorithmOf(token: string): unknown {
  try {
    return (decodeHeader(token) as { header: { alg?: unknown } }).header.alg;
  } catch {
    return undefined;
  }
}
