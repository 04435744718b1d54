import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedProduct } from '../seed/world.ts';
import { applyPayloads, multipartPayloads } from './support/multipart.ts';
import { shippedOperations } from './support/shipped-operations.ts';
import { startShopGraph, startTestRouter, type ShopGraph } from './support/shop-graph.ts';
import { until } from './support/until.ts';

/**
 * `@defer` through the router, on the real shop graph over HTTP: the
 * shipped deferred product page in both incremental formats and whole,
 * its first part not waiting for the reviews subgraph, a failing deferred
 * part reported in its own payload while the rest arrives, deferred
 * fragments nested and in lists, `@defer(if: false)`, and what the
 * response cache does with each.
 */

const postgresAdminUrl = inject('postgresAdminUrl') ?? undefined;

const legacyAccept = 'multipart/mixed;deferSpec=20220824, application/json';
const currentAccept = 'multipart/mixed; incrementalSpec=v0.2';

const shipped = Object.fromEntries(shippedOperations().map((operation) => [operation.name, operation]));
const deferredPage = shipped.ProductPageDeferred!;
const wholePage = shipped.ProductPage!;

type Json = Record<string, unknown>;

describe('@defer through the router', () => {
  let graph: ShopGraph;
  const productId = seedProduct(0).id;

  beforeAll(async () => {
    graph = await startShopGraph('defer', {}, { postgresAdminUrl, delays: { reviews: 0 } });
  });
  afterAll(() => graph?.stop());
  afterEach(() => {
    graph.proxies.reviews!.resume();
    graph.proxies.reviews!.failing = false;
  });

  const post = (query: string, variables: Json, accept: string) =>
    fetch(graph.router.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept },
      body: JSON.stringify({ query, variables }),
    });

  const payloadsOf = async (response: Response) => {
    const payloads: Json[] = [];
    for await (const payload of multipartPayloads(response)) payloads.push(payload);
    return payloads;
  };

  /** The page as one answer, without @defer: what every deferred answer must add up to. */
  const whole = async () => {
    const response = await graph.query(wholePage.document, { id: productId });
    expect(response.body.errors).toBeUndefined();
    return response.body.data as Json;
  };

  it('sends the product page in two parts that add up to the whole page (deferSpec=20220824)', async () => {
    const response = await post(deferredPage.document, { id: productId }, legacyAccept);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('multipart/mixed; boundary="-"; deferSpec=20220824');
    const payloads = await payloadsOf(response);
    expect(payloads).toHaveLength(2);
    const [first, second] = payloads as [Json, Json];
    expect(first).toMatchObject({ hasNext: true, data: { product: { id: productId } } });
    expect((first.data as { product: Json }).product).not.toHaveProperty('reviews');
    expect(second).toMatchObject({
      hasNext: false,
      incremental: [{ path: ['product'], label: 'reviews', data: { reviewCount: expect.any(Number) } }],
    });
    const applied = applyPayloads(payloads);
    expect(applied.errors).toEqual([]);
    expect(applied.data).toEqual(await whole());
  });

  it('announces each deferred part by id in the current format (incrementalSpec=v0.2)', async () => {
    const response = await post(deferredPage.document, { id: productId }, currentAccept);
    expect(response.headers.get('content-type')).toBe('multipart/mixed; boundary="-"; incrementalSpec=v0.2');
    const payloads = await payloadsOf(response);
    const [first, ...rest] = payloads as [Json, ...Json[]];
    expect(first).toMatchObject({ hasNext: true, pending: [{ id: '0', path: ['product'], label: 'reviews' }] });
    expect(rest.at(-1)).toMatchObject({ hasNext: false });
    expect(rest.flatMap((payload) => (payload.completed as Json[] | undefined) ?? [])).toEqual([{ id: '0' }]);
    expect(applyPayloads(payloads).data).toEqual(await whole());
  });

  it('answers the deferred page whole to a client that accepts no multipart response', async () => {
    const response = await graph.query(deferredPage.document, { id: productId });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toEqual(await whole());
  });

  it('sends the first part while the reviews subgraph has not answered', async () => {
    const reviews = graph.proxies.reviews!;
    reviews.pause();
    const forwardedBefore = reviews.forwarded;
    const response = await post(deferredPage.document, { id: productId }, legacyAccept);
    const parts = multipartPayloads(response);
    const first = (await parts.next()).value as Json;
    // The first part is here, and the reviews fetch reaches the proxy and is held there: it cannot have waited for it.
    await until(() => reviews.held === 1, { what: 'the reviews fetch held at the proxy' });
    expect(reviews.forwarded).toBe(forwardedBefore);
    expect(first).toMatchObject({ hasNext: true, data: { product: { id: productId, inStock: expect.any(Boolean) } } });
    reviews.resume();
    const rest: Json[] = [];
    for await (const payload of parts) rest.push(payload);
    expect(rest.at(-1)).toMatchObject({ hasNext: false });
    expect(applyPayloads([first, ...rest]).data).toEqual(await whole());
  });

  it('keeps serving when a client leaves in the middle of a stream', async () => {
    const reviews = graph.proxies.reviews!;
    reviews.pause();
    const leaving = new AbortController();
    const response = await fetch(graph.router.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: legacyAccept },
      body: JSON.stringify({ query: deferredPage.document, variables: { id: productId } }),
      signal: leaving.signal,
    });
    const parts = multipartPayloads(response);
    expect((await parts.next()).value).toMatchObject({ hasNext: true });
    await until(() => reviews.held === 1, { what: 'the reviews fetch held at the proxy' });
    leaving.abort();
    await parts.next().catch(() => undefined);
    reviews.resume();
    const next = await payloadsOf(await post(deferredPage.document, { id: productId }, legacyAccept));
    expect(applyPayloads(next).data).toEqual(await whole());
  });

  it('reports a failed deferred part in its own payload, with a code, after an intact first part', async () => {
    graph.proxies.reviews!.failing = true;
    const response = await post(deferredPage.document, { id: productId }, legacyAccept);
    expect(response.status).toBe(200);
    const payloads = await payloadsOf(response);
    const [first, ...rest] = payloads as [Json, ...Json[]];
    expect(first.errors).toBeUndefined();
    expect(first).toMatchObject({ data: { product: { id: productId, name: expect.any(String) } } });
    expect(rest.at(-1)).toMatchObject({ hasNext: false });
    const items = rest.flatMap((payload) => (payload.incremental as Json[] | undefined) ?? []);
    const errors = items.flatMap((item) => (item.errors as Json[] | undefined) ?? []);
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) {
      expect((error.extensions as Json).code).toEqual(expect.any(String));
      expect((error.extensions as Json).code).not.toBe('INTERNAL_SERVER_ERROR');
    }
  });

  it("masks a deferred part's errors in production as it masks any other: no subgraph, address or stack", async () => {
    const production = await startTestRouter(graph.supergraphPath, { nodeEnv: 'production' });
    try {
      graph.proxies.reviews!.failing = true;
      const response = await fetch(production.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: legacyAccept },
        body: JSON.stringify({ query: deferredPage.document, variables: { id: productId } }),
      });
      const text = await response.text();
      expect(response.headers.get('content-type')).toMatch(/^multipart\/mixed/);
      expect(text).toContain('SUBGRAPH_UNAVAILABLE');
      expect(text).not.toMatch(/reviews subgraph|"subgraph"|127\.0\.0\.1|stacktrace|\.ts:\d+/);
    } finally {
      await production.stop();
    }
  });

  it('nests deferred fragments and defers inside lists, and adds up to the undeferred answer', async () => {
    const fields = (inner: string) => `
      products(first: 3) { edges { node { id name ${inner} } } }`;
    const deferred = `{ ${fields('... @defer { inStock ... @defer(label: "rating") { averageRating reviewCount } }')} }`;
    const plain = `{ ${fields('inStock averageRating reviewCount')} }`;
    for (const accept of [legacyAccept, currentAccept]) {
      const payloads = await payloadsOf(await post(deferred, {}, accept));
      expect(payloads.at(-1)).toMatchObject({ hasNext: false });
      const expected = (await graph.query(plain)).body.data;
      const applied = applyPayloads(payloads);
      expect(applied.errors).toEqual([]);
      expect(applied.data).toEqual(expected);
    }
    // In Apollo Client's format every list item's fragment has its own path, the nested one after its parent.
    const payloads = await payloadsOf(await post(deferred, {}, legacyAccept));
    const items = payloads.flatMap((payload) => (payload.incremental as Json[] | undefined) ?? []);
    const rated = items.filter((item) => item.label === 'rating').map((item) => item.path);
    expect(rated).toEqual([0, 1, 2].map((index) => ['products', 'edges', index, 'node']));
    const firstRated = items.findIndex((item) => item.label === 'rating');
    const stocked = items.findIndex((item) => (item.data as Json).inStock !== undefined);
    expect(stocked).toBeLessThan(firstRated);
  });

  it('answers whole when every @defer is off (if: false), and in parts when it is on', async () => {
    const query = `query ($id: ID, $defer: Boolean!) { product(id: $id) { id ... @defer(if: $defer) { reviewCount } } }`;
    const off = await post(query, { id: productId, defer: false }, legacyAccept);
    expect(off.headers.get('content-type')).toMatch(/^application\/json/);
    const offBody = (await off.json()) as Json;
    expect(offBody).toEqual({ data: { product: { id: productId, reviewCount: expect.any(Number) } } });
    const on = await payloadsOf(await post(query, { id: productId, defer: true }, legacyAccept));
    expect(on).toHaveLength(2);
    expect(applyPayloads(on).data).toEqual(offBody.data);
  });

  it('never stores a streamed answer; a whole one is cached and served to whole-answer clients', async () => {
    const query = `query DeferCache($id: ID) { product(id: $id) { id name ... @defer { reviewCount } } }`;
    for (let round = 0; round < 2; round++) {
      const streamed = await post(query, { id: productId }, legacyAccept);
      expect(streamed.headers.get('content-type')).toMatch(/^multipart\/mixed/);
      expect(streamed.headers.get('x-cache')).not.toBe('HIT');
      expect(await payloadsOf(streamed)).toHaveLength(2);
    }
    const first = await graph.query(query, { id: productId });
    const second = await graph.query(query, { id: productId });
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.body).toEqual(first.body);
    // The cached whole answer does not change what a streaming client gets.
    const after = await post(query, { id: productId }, legacyAccept);
    expect(after.headers.get('content-type')).toMatch(/^multipart\/mixed/);
    expect(applyPayloads(await payloadsOf(after)).data).toEqual(first.body.data);
  });
});
