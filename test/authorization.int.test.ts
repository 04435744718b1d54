import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityHeader } from '../platform/src/identity.ts';
import { seedOrder, seedUser, worldSizes } from '../seed/world.ts';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testIdentitySecret, testJwtSecret } from './support/tokens.ts';

/**
 * Who may see what, through the router on the real shop graph: the router
 * verifies the client's token and signs the caller for the subgraphs, and
 * each subgraph enforces `@authenticated`, `@requiresScopes` and ownership
 * on its own fields. A denied field is null with a coded error; the rest of
 * the response is intact.
 */

const world = worldSizes.small;
const alice = seedUser(0);
const bob = seedUser(1);
const ordersOf = (userId: string) =>
  Array.from({ length: world.orders }, (_, index) => seedOrder(index, world)).filter(
    (order) => order.userId === userId,
  );

let graph: ShopGraph;
const bearer = async (userId: string, scopes: string[] = []) => ({
  authorization: `Bearer ${await signTestToken(testJwtSecret, userId, scopes)}`,
});

beforeAll(async () => {
  graph = await startShopGraph('authorization', {
    authentication: { keys: { kind: 'secret', secret: testJwtSecret } },
  });
});

afterAll(async () => {
  await graph?.stop();
});

const errorsByPath = (errors: any[] | undefined) =>
  Object.fromEntries((errors ?? []).map((error) => [error.path.join('.'), error.extensions.code]));

describe('the signed-in viewer', () => {
  it('is the token holder, with their email and orders', async () => {
    const response = await graph.query<any>(
      `{ viewer { id name email orders(first: 50) { totalCount } } }`,
      {},
      await bearer(alice.id),
    );
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toEqual({
      viewer: { id: alice.id, name: alice.name, email: alice.email, orders: { totalCount: ordersOf(alice.id).length } },
    });
    expect(response.headers.get('cache-control')).toMatch(/private/);
  });

  it('is null with UNAUTHENTICATED for an anonymous caller, and the rest of the response is intact', async () => {
    const response = await graph.query<any>(`{ viewer { id } categories { slug } }`);
    expect(response.status).toBe(200);
    expect(response.body.data.viewer).toBeNull();
    expect(response.body.data.categories.length).toBeGreaterThan(0);
    expect(errorsByPath(response.body.errors)).toEqual({ viewer: 'UNAUTHENTICATED' });
  });
});

describe('ownership', () => {
  const profile = `query ($id: ID!) { user(id: $id) { name email orders(first: 5) { totalCount } } }`;

  it("hides another user's email and orders behind FORBIDDEN, keeping their public profile", async () => {
    const response = await graph.query<any>(profile, { id: bob.id }, await bearer(alice.id));
    expect(response.body.data).toEqual({ user: { name: bob.name, email: null, orders: null } });
    expect(errorsByPath(response.body.errors)).toEqual({ 'user.email': 'FORBIDDEN', 'user.orders': 'FORBIDDEN' });
  });

  it('hides them behind UNAUTHENTICATED from an anonymous caller', async () => {
    const response = await graph.query<any>(profile, { id: bob.id });
    expect(response.body.data).toEqual({ user: { name: bob.name, email: null, orders: null } });
    expect(errorsByPath(response.body.errors)).toEqual({
      'user.email': 'UNAUTHENTICATED',
      'user.orders': 'UNAUTHENTICATED',
    });
  });

  it('shows them to their owner', async () => {
    const response = await graph.query<any>(profile, { id: bob.id }, await bearer(bob.id));
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.user).toEqual({
      name: bob.name,
      email: bob.email,
      orders: { totalCount: ordersOf(bob.id).length },
    });
  });

  it("never serves one user's cached private answer to another", async () => {
    const query = `{ viewer { email } }`;
    const first = await graph.query<any>(query, {}, await bearer(alice.id));
    const second = await graph.query<any>(query, {}, await bearer(bob.id));
    expect(first.body.data.viewer.email).toBe(alice.email);
    expect(second.body.data.viewer.email).toBe(bob.email);
  });
});

describe('scopes', () => {
  const everyone = `{ users(first: 3) { totalCount } categories { slug } }`;

  it('needs the admin scope to list every account', async () => {
    const denied = await graph.query<any>(everyone, {}, await bearer(alice.id, ['orders:read']));
    expect(denied.body.data.users).toBeNull();
    expect(denied.body.data.categories.length).toBeGreaterThan(0);
    expect(errorsByPath(denied.body.errors)).toEqual({ users: 'FORBIDDEN' });

    const anonymous = await graph.query<any>(everyone);
    expect(errorsByPath(anonymous.body.errors)).toEqual({ users: 'UNAUTHENTICATED' });

    const admin = await graph.query<any>(everyone, {}, await bearer(alice.id, ['admin']));
    expect(admin.body.errors).toBeUndefined();
    expect(admin.body.data.users.totalCount).toBe(world.users);
  });
});

describe('the identity the router forwards', () => {
  const accountsUrl = () => graph.subgraphs.accounts.url;
  const postToAccounts = (headers: Record<string, string>) =>
    fetch(accountsUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: '{ viewer { id } }' }),
    }).then(async (response) => ({ status: response.status, body: (await response.json()) as any }));

  const identityToken = (secret: string, claims: { sub: string; exp?: number; iss?: string; aud?: string }) =>
    new SignJWT({ scope: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.sub)
      .setIssuer(claims.iss ?? 'shop-graph-router')
      .setAudience(claims.aud ?? 'shop-graph-subgraphs')
      .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 60)
      .sign(new TextEncoder().encode(secret));

  it('is refused by a subgraph when forged, expired, misaddressed or garbage', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const forged of [
      await identityToken('a-different-secret-that-is-long-enough!', { sub: alice.id }),
      await identityToken(testIdentitySecret, { sub: alice.id, exp: now - 600 }),
      await identityToken(testIdentitySecret, { sub: alice.id, aud: 'someone-else' }),
      await identityToken(testIdentitySecret, { sub: alice.id, iss: 'a-client' }),
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: alice.id })).toString('base64url')}.`,
      'not-a-token',
    ]) {
      const response = await postToAccounts({ [identityHeader]: forged });
      expect(response.status).toBe(401);
      expect(response.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('is accepted by a subgraph when the router signed it', async () => {
    const signed = await identityToken(testIdentitySecret, { sub: alice.id });
    const response = await postToAccounts({ [identityHeader]: signed });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ viewer: { id: alice.id } });
  });

  it('cannot be smuggled through the router by a client', async () => {
    // A correctly signed identity, had the client stolen the secret's output: the router drops it.
    const smuggled = await identityToken(testIdentitySecret, { sub: bob.id });
    const anonymous = await graph.query<any>(`{ viewer { id } }`, {}, { [identityHeader]: smuggled });
    expect(errorsByPath(anonymous.body.errors)).toEqual({ viewer: 'UNAUTHENTICATED' });

    const asAlice = await graph.query<any>(
      `{ viewer { id } }`,
      {},
      { ...(await bearer(alice.id)), [identityHeader]: smuggled },
    );
    expect(asAlice.body.data).toEqual({ viewer: { id: alice.id } });
  });
});
