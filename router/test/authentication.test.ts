import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { close, listen } from '../../platform/src/http/server.ts';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';
import type { AuthenticationOptions } from '../src/plugins/authentication/index.ts';

/**
 * Token verification at the router, against a shared secret and against a
 * JWKS served over real HTTP. Every rejected token is a 401 with a coded
 * error, and no subgraph hears of the request.
 */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    hello: String!
  }
`;
const secret = 'a-test-secret-that-is-at-least-32-bytes';
const issuer = 'https://id.shop.test/';
const audience = 'shop-graph';

let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let ec: Awaited<ReturnType<typeof generateKeyPair>>;
let jwks: { server: Server; url: string; fetches: number; keys: JWK[] };
let graph: TestGraph | null = null;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  const keys = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ];
  const server = createServer((_, response) => {
    jwks.fetches++;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  const { url } = await listen(server, 0, '127.0.0.1');
  jwks = { server, url: `${url}/.well-known/jwks.json`, fetches: 0, keys };
});

afterEach(async () => {
  await graph?.stop();
  graph = null;
});

afterAll(async () => {
  if (jwks) await close(jwks.server);
});

async function start(options: AuthenticationOptions) {
  graph = await startTestGraph('hello', sdl, { Query: { hello: () => 'world' } }, { authentication: options });
  return graph;
}

function claims() {
  return new SignJWT({ scope: 'orders:read' })
    .setSubject('user-1')
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m');
}

const hmacKey = (value: string) => new TextEncoder().encode(value);

/** A JWT with any header and payload, and a signature of junk: for vectors jose refuses to sign. */
function forged(header: Record<string, unknown>, payload: Record<string, unknown>, signature = '') {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

const validPayload = () => ({
  sub: 'user-1',
  iss: issuer,
  aud: audience,
  exp: Math.floor(Date.now() / 1000) + 300,
});

async function expectRejected(token: string, message: RegExp) {
  const response = await graph!.post({ query: '{ hello }' }, { authorization: `Bearer ${token}` });
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  expect(response.body.errors).toEqual([
    expect.objectContaining({ message: expect.stringMatching(message), extensions: { code: 'UNAUTHENTICATED' } }),
  ]);
}

describe('with a shared secret (HS256)', () => {
  it('accepts a valid token and answers a request without one as anonymous', async () => {
    await start({ keys: { kind: 'secret', secret }, issuer, audience });
    const token = await claims().setProtectedHeader({ alg: 'HS256' }).sign(hmacKey(secret));
    expect((await graph!.post({ query: '{ hello }' }, { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await graph!.post({ query: '{ hello }' })).status).toBe(200);
    expect(graph!.subgraph.requests).toHaveLength(2);
  });

  it('refuses every forged, expired or misaddressed token with 401 and no subgraph call', async () => {
    await start({ keys: { kind: 'secret', secret }, issuer, audience });
    const now = Math.floor(Date.now() / 1000);
    const vectors: Array<[string, Promise<string> | string, RegExp]> = [
      ['alg none', forged({ alg: 'none', typ: 'JWT' }, validPayload()), /accepted algorithm/],
      ['alg none, upper case', forged({ alg: 'NONE' }, validPayload()), /accepted algorithm|malformed/],
      [
        'RS256 where HS256 is pinned',
        claims().setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey),
        /accepted algorithm/,
      ],
      [
        'HS512',
        claims()
          .setProtectedHeader({ alg: 'HS512' })
          .sign(hmacKey(secret + secret)),
        /accepted algorithm/,
      ],
      [
        'wrong secret',
        claims().setProtectedHeader({ alg: 'HS256' }).sign(hmacKey('another-secret-of-at-least-32-bytes!!')),
        /signature is invalid/,
      ],
      [
        'expired',
        claims()
          .setExpirationTime(now - 120)
          .setProtectedHeader({ alg: 'HS256' })
          .sign(hmacKey(secret)),
        /expired/,
      ],
      [
        'not yet valid',
        claims()
          .setNotBefore(now + 600)
          .setProtectedHeader({ alg: 'HS256' })
          .sign(hmacKey(secret)),
        /"nbf" claim/,
      ],
      [
        'wrong audience',
        claims().setAudience('someone-else').setProtectedHeader({ alg: 'HS256' }).sign(hmacKey(secret)),
        /"aud" claim/,
      ],
      [
        'wrong issuer',
        claims().setIssuer('https://evil.test/').setProtectedHeader({ alg: 'HS256' }).sign(hmacKey(secret)),
        /"iss" claim/,
      ],
      [
        'no expiry',
        new SignJWT({})
          .setSubject('user-1')
          .setIssuer(issuer)
          .setAudience(audience)
          .setProtectedHeader({ alg: 'HS256' })
          .sign(hmacKey(secret)),
        /"exp" claim/,
      ],
      [
        'no subject',
        new SignJWT({})
          .setIssuer(issuer)
          .setAudience(audience)
          .setExpirationTime('5m')
          .setProtectedHeader({ alg: 'HS256' })
          .sign(hmacKey(secret)),
        /"sub" claim/,
      ],
      // Signed by the trusted key, but with claims the router cannot use: the token's fault, 401, never 500.
      ...(
        [
          ['sub', 42],
          ['sub', false],
          ['sub', { id: 'user-1' }],
          ['sub', ['user-1']],
          ['sub', ''],
          ['sub', 'x'.repeat(256)],
          ['sub', 'user-1\n'],
          ['scope', ['orders:read']],
          ['scp', 'orders:read'],
          ['scp', [1, 2]],
        ] as const
      ).map(([claim, value]): [string, Promise<string>, RegExp] => [
        `"${claim}" of ${JSON.stringify(value)}`,
        new SignJWT({ ...validPayload(), [claim]: value }).setProtectedHeader({ alg: 'HS256' }).sign(hmacKey(secret)),
        new RegExp(`"${claim}" claim must be`),
      ]),
      ['tampered payload', tamper(await claims().setProtectedHeader({ alg: 'HS256' }).sign(hmacKey(secret))), /./],
      ['not a JWT', 'abc.def', /malformed/],
      ['empty signature', forged({ alg: 'HS256' }, validPayload()), /signature|malformed/],
    ];
    for (const [, token, message] of vectors) await expectRejected(await token, message);

    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'token abc']) {
      const response = await graph!.post({ query: '{ hello }' }, { authorization: header });
      expect(response.status).toBe(401);
      expect(response.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
    expect(graph!.subgraph.requests).toHaveLength(0);
  });
});

describe('with a JWKS', () => {
  const jwksKeys = (options: Partial<Extract<AuthenticationOptions['keys'], { kind: 'jwks' }>> = {}) => ({
    keys: { kind: 'jwks' as const, url: jwks.url, ...options },
    issuer,
    audience,
  });

  it('accepts RS256 and ES256 tokens signed by a published key', async () => {
    await start(jwksKeys());
    for (const token of [
      await claims().setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa.privateKey),
      await claims().setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).sign(ec.privateKey),
    ]) {
      const response = await graph!.post({ query: '{ hello }' }, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ data: { hello: 'world' } });
    }
  });

  it('refuses an HMAC token keyed with the public key (HS/RS confusion) and algorithms not pinned', async () => {
    await start(jwksKeys({ algorithms: ['RS256'] }));
    const publicJwk = jwks.keys[0]!;
    // The classic confusion: HS256 over the RSA public key, which an attacker can download.
    await expectRejected(
      await claims()
        .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
        .sign(hmacKey(JSON.stringify(publicJwk))),
      /accepted algorithm/,
    );
    await expectRejected(
      await claims().setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).sign(ec.privateKey),
      /accepted algorithm/,
    );
    await expectRejected(forged({ alg: 'none', kid: 'rsa-1' }, validPayload()), /accepted algorithm/);
    expect(graph!.subgraph.requests).toHaveLength(0);
  });

  it('refuses to start with an HMAC algorithm for JWKS keys', async () => {
    await expect(start(jwksKeys({ algorithms: ['HS256'] }))).rejects.toThrow(/cannot verify HS256/);
  });

  it('fetches the key set at most once per cooldown, however many unknown key ids arrive', async () => {
    await start(jwksKeys({ cooldownSeconds: 30 }));
    const before = jwks.fetches;
    const flood = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        claims()
          .setProtectedHeader({ alg: 'RS256', kid: `made-up-${index}` })
          .sign(rsa.privateKey),
      ),
    );
    for (let start = 0; start < flood.length; start += 50) {
      const responses = await Promise.all(
        flood
          .slice(start, start + 50)
          .map((token) => graph!.post({ query: '{ hello }' }, { authorization: `Bearer ${token}` })),
      );
      for (const response of responses) {
        expect(response.status).toBe(401);
        expect(response.body.errors[0]).toMatchObject({
          message: expect.stringMatching(/unknown key/),
          extensions: { code: 'UNAUTHENTICATED' },
        });
      }
    }
    expect(jwks.fetches - before).toBe(1);
    expect(graph!.subgraph.requests).toHaveLength(0);

    // A real key still verifies from the cached set, without another fetch.
    const good = await claims().setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa.privateKey);
    expect((await graph!.post({ query: '{ hello }' }, { authorization: `Bearer ${good}` })).status).toBe(200);
    expect(jwks.fetches - before).toBe(1);
  });
});

function tamper(token: string): string {
  const [header, payload, signature] = token.split('.');
  const claimsObject = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
  claimsObject.sub = 'admin';
  return `${header}.${Buffer.from(JSON.stringify(claimsObject)).toString('base64url')}.${signature}`;
}
