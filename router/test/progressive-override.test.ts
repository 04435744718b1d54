import type { GraphQLResolveInfo } from 'graphql';
import type { IncomingMessage } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeaderMap } from '@apollo/server';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import type { Viewer } from '../../platform/src/identity.ts';
import { startTestRouter } from '../../test/support/shop-graph.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { testJwtSecret } from '../../test/support/tokens.ts';
import { routerConfigFrom } from '../src/config.ts';
import { noOverrideLabels, type RouterPlugin, type RouterRequest } from '../src/plugins/plugin.ts';
import { progressiveOverridePlugin, supergraphLabels } from '../src/plugins/progressive-override/index.ts';
import { MemoryResponseStore, ResponseCache } from '../src/plugins/response-cache/index.ts';
import { routerPlugins, type RouterSettings, type RunningRouter } from '../src/router.ts';
import { testLogger } from '../../test/support/shop-graph.ts';
import { cacheableForAMinute } from './support/cacheable.ts';

/**
 * Which `@override(label:)` labels are on for a request: `percent(N)` ones
 * drawn per request, others named by a header or a token claim, only those
 * the supergraph declares; and the response cache keeps the answers of
 * different label sets apart.
 */

// `rating` moves from `old` to `new` behind a custom label, `score` behind a percentage.
const oldSdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    product: Product
  }
  type Product @key(fields: "id") {
    id: ID!
    rating: Int
    score: Int
  }
`;
const newSdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@override"])
  type Product @key(fields: "id") {
    id: ID!
    rating: Int @override(from: "old", label: "beta")
    score: Int @override(from: "old", label: "percent(12.5)")
  }
`;

function compose(urls: { old: string; new: string }): string {
  const outcome = composeSupergraph([
    { name: 'old', url: urls.old, sdl: oldSdl },
    { name: 'new', url: urls.new, sdl: newSdl },
  ]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  return outcome.supergraphSdl;
}

const supergraph = compose({ old: 'http://127.0.0.1:1/graphql', new: 'http://127.0.0.1:2/graphql' });

/** A request as the operation stage sees it, for calling the plugin's hooks directly. */
function requestFor({
  graphId = 'v1',
  headers = {},
  viewer = null,
}: { graphId?: string; headers?: Record<string, string>; viewer?: Viewer | null } = {}): RouterRequest {
  return {
    http: { method: 'POST', headers: new HeaderMap(Object.entries(headers)), search: '', body: {} },
    incoming: {} as IncomingMessage,
    observed: { operationName: null, errors: false },
    viewer,
    operation: null,
    graphId,
    overrideLabels: noOverrideLabels,
  };
}

/** The labels the plugin turns on for `request`, with the supergraph above as version `v1`. */
async function labelsOf(plugin: RouterPlugin, request: RouterRequest = requestFor()): Promise<string[]> {
  plugin.graph!({ sdl: supergraph, id: 'v1' });
  await plugin.onOperation!(request);
  return [...request.overrideLabels].sort();
}

/** A random function that returns `values` in turn. */
function drawing(...values: number[]): () => number {
  let next = 0;
  return () => values[next++ % values.length]!;
}

describe('the labels of a supergraph', () => {
  it('are read from its join__field directives, percentages with their value', () => {
    const labels = supergraphLabels(supergraph);
    expect([...labels.all].sort()).toEqual(['beta', 'percent(12.5)']);
    expect(labels.percent).toEqual([{ label: 'percent(12.5)', percent: 12.5 }]);
  });

  it('are none for a supergraph without @override', () => {
    const plain = composeSupergraph([{ name: 'old', url: 'http://127.0.0.1:1/graphql', sdl: oldSdl }]);
    if (!plain.ok) throw new Error(plain.errors.join('\n'));
    expect(supergraphLabels(plain.supergraphSdl)).toEqual({ all: new Set(), percent: [] });
  });
});

describe('percent labels', () => {
  it('are on when the draw falls under the percentage, fractional ones included', async () => {
    // 12.5% of requests: a draw of 0.1249 is in, 0.125 is not.
    expect(await labelsOf(progressiveOverridePlugin({ random: () => 0.1249 }))).toEqual(['percent(12.5)']);
    expect(await labelsOf(progressiveOverridePlugin({ random: () => 0.125 }))).toEqual([]);
  });

  it('are drawn afresh for every request', async () => {
    const plugin = progressiveOverridePlugin({ random: drawing(0.9, 0.05, 0.5, 0.01) });
    const seen = [];
    for (let index = 0; index < 4; index++) seen.push(await labelsOf(plugin));
    expect(seen).toEqual([[], ['percent(12.5)'], [], ['percent(12.5)']]);
  });

  it('leave a request with none on carrying the shared empty set', async () => {
    const request = requestFor();
    await labelsOf(progressiveOverridePlugin({ random: () => 0.99 }), request);
    expect(request.overrideLabels).toBe(noOverrideLabels);
  });

  it('follow the version a request is served by', async () => {
    const plugin = progressiveOverridePlugin({ random: () => 0 });
    const plain = composeSupergraph([{ name: 'old', url: 'http://127.0.0.1:1/graphql', sdl: oldSdl }]);
    if (!plain.ok) throw new Error(plain.errors.join('\n'));
    plugin.graph!({ sdl: plain.supergraphSdl, id: 'v2' });
    expect(await labelsOf(plugin, requestFor({ graphId: 'v1' }))).toEqual(['percent(12.5)']);
    expect(await labelsOf(plugin, requestFor({ graphId: 'v2' }))).toEqual([]);
  });
});

describe('labels a request names', () => {
  const never = () => 0.99;

  it('come from the configured header, comma-separated', async () => {
    const plugin = progressiveOverridePlugin({ header: 'X-Override-Labels', random: never });
    expect(await labelsOf(plugin, requestFor({ headers: { 'x-override-labels': ' beta ,' } }))).toEqual(['beta']);
  });

  it('are read from no header unless one is configured', async () => {
    const plugin = progressiveOverridePlugin({ random: never });
    expect(await labelsOf(plugin, requestFor({ headers: { 'x-override-labels': 'beta' } }))).toEqual([]);
  });

  it('come from the configured claim of the verified token, as a list or a string', async () => {
    const plugin = progressiveOverridePlugin({ claim: 'labels', random: never });
    const viewer = (labels: unknown): Viewer => ({ id: 'user-1', scopes: [], claims: { sub: 'user-1', labels } });
    expect(await labelsOf(plugin, requestFor({ viewer: viewer(['beta']) }))).toEqual(['beta']);
    expect(await labelsOf(plugin, requestFor({ viewer: viewer('beta percent(12.5)') }))).toEqual([
      'beta',
      'percent(12.5)',
    ]);
    // Not labels at all: ignored, the token is still good.
    expect(await labelsOf(plugin, requestFor({ viewer: viewer({ beta: true }) }))).toEqual([]);
    expect(await labelsOf(plugin, requestFor({ viewer: null }))).toEqual([]);
  });

  it('are dropped when the supergraph does not declare them', async () => {
    const plugin = progressiveOverridePlugin({ header: 'x-override-labels', claim: 'labels', random: never });
    const request = requestFor({
      headers: { 'x-override-labels': 'gamma,percent(50),beta' },
      viewer: { id: 'user-1', scopes: [], claims: { labels: ['delta'] } },
    });
    expect(await labelsOf(plugin, request)).toEqual(['beta']);
  });

  it('may force a percent label on, to try a new owner while its percentage is still 0', async () => {
    const plugin = progressiveOverridePlugin({ header: 'x-override-labels', random: never });
    expect(await labelsOf(plugin, requestFor({ headers: { 'x-override-labels': 'percent(12.5)' } }))).toEqual([
      'percent(12.5)',
    ]);
  });
});

describe('configuration', () => {
  it('is on by default, and PROGRESSIVE_OVERRIDE=false leaves the plugin out', () => {
    const on = routerConfigFrom([], {});
    expect(on.progressiveOverride).toEqual({ enabled: true });
    const off = routerConfigFrom([], {
      PROGRESSIVE_OVERRIDE: 'false',
      OVERRIDE_LABELS_HEADER: 'x-override-labels',
      OVERRIDE_LABELS_CLAIM: 'override_labels',
    });
    expect(off.progressiveOverride).toEqual({ enabled: false, header: 'x-override-labels', claim: 'override_labels' });
    const names = (settings: Partial<RouterSettings>) =>
      routerPlugins({ ...on, ...settings }).map((plugin) => plugin.name);
    expect(names({})).toContain('progressive override');
    expect(names({ progressiveOverride: off.progressiveOverride })).not.toContain('progressive override');
  });

  it('names the variable when the header is not a header name', () => {
    expect(() => routerConfigFrom([], { OVERRIDE_LABELS_HEADER: 'x labels' })).toThrow(/OVERRIDE_LABELS_HEADER/);
  });
});

describe('the response cache', () => {
  it('keys entries by the labels on, and leaves the key of a request without any as it was', async () => {
    const cache = new ResponseCache({ store: new MemoryResponseStore(), logger: testLogger('cache') });
    const operation = {
      query: '{ product { rating } }',
      documentHash: 'abc',
      apq: null,
      operationName: undefined,
      variablesJson: '{}',
      passesCsrfPrevention: true,
    };
    const context = { graphId: 'v1', accept: '', viewer: null };
    const material = async (overrideLabels?: ReadonlySet<string>) =>
      (await cache.lookup(operation, { ...context, ...(overrideLabels ? { overrideLabels } : {}) })).request.material;
    expect(await material(new Set())).toBe(await material());
    expect(await material(new Set(['beta']))).not.toBe(await material());
    expect(await material(new Set(['beta', 'percent(5)']))).toBe(await material(new Set(['percent(5)', 'beta'])));
    expect(await material(new Set(['beta', 'percent(5)']))).not.toBe(await material(new Set(['beta'])));
  });
});

describe('in a running router', () => {
  let subgraphs: { old: TestSubgraph; new: TestSubgraph };
  let workdir: string;
  let router: RunningRouter;
  let disabled: RunningRouter;
  const seen: Array<string[]> = [];
  // Records the labels Apollo Server's context carries, where the query planner reads them.
  const recorder: RouterPlugin = {
    name: 'label recorder',
    apollo: {
      async requestDidStart({ contextValue }) {
        seen.push([...contextValue.overrideLabels].sort());
      },
    },
  };

  beforeAll(async () => {
    subgraphs = {
      old: await startTestSubgraph('old', oldSdl, {
        Query: { product: cacheableForAMinute({ id: '1', rating: 4, score: 7 }) },
      }),
      new: await startTestSubgraph('new', newSdl, {
        // Cacheable as `old`'s answer is, so what the cache keeps apart below is the label set alone.
        Product: {
          __resolveReference: ({ id }: { id: string }, context: unknown, info: unknown) =>
            // Federation calls it (reference, context, info), not as a field resolver.
            cacheableForAMinute({ id, rating: 4, score: 7 })(undefined, undefined, context, info as GraphQLResolveInfo),
        },
      }),
    };
    workdir = await mkdtemp(join(tmpdir(), 'override-'));
    const path = join(workdir, 'supergraph.graphql');
    await writeFile(path, compose({ old: subgraphs.old.url, new: subgraphs.new.url }));
    // percent(12.5) never drawn, so what a request names is all that is on.
    const labels = { header: 'x-override-labels', claim: 'override_labels', random: () => 0.99 };
    router = await startTestRouter(path, { progressiveOverride: labels, plugins: [recorder] });
    disabled = await startTestRouter(path, {
      progressiveOverride: { ...labels, enabled: false },
      plugins: [recorder],
    });
  });

  afterAll(async () => {
    await router?.stop();
    await disabled?.stop();
    await subgraphs?.old.stop();
    await subgraphs?.new.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  async function post(url: string, query: string, headers: Record<string, string> = {}) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query }),
    });
    return { cache: response.headers.get('x-cache'), body: (await response.json()) as unknown };
  }

  it('gives every request a set of labels in its context, empty when none is on', async () => {
    seen.length = 0;
    await post(router.url, '{ product { id } }');
    await post(router.url, '{ product { id score } }', { 'x-override-labels': 'beta,unknown' });
    expect(seen).toEqual([[], ['beta']]);
  });

  it('reads the claim of a verified token', async () => {
    seen.length = 0;
    const token = await new SignJWT({ override_labels: ['beta', 'unknown'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user-1')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(testJwtSecret));
    await post(router.url, '{ product { score } }', { authorization: `Bearer ${token}` });
    expect(seen).toEqual([['beta']]);
  });

  it('turns no label on when disabled, whatever the request names', async () => {
    seen.length = 0;
    await post(disabled.url, '{ product { rating } }', { 'x-override-labels': 'beta' });
    expect(seen).toEqual([[]]);
  });

  it('never serves a cached response across label sets', async () => {
    const query = '{ product { id rating } }';
    const beta = { 'x-override-labels': 'beta' };
    const before = subgraphs.old.requests.length;
    expect((await post(router.url, query, beta)).cache).toBe('MISS');
    expect((await post(router.url, query)).cache).toBe('MISS');
    expect((await post(router.url, query, beta)).cache).toBe('HIT');
    expect((await post(router.url, query)).cache).toBe('HIT');
    // An unknown label is dropped before the cache looks: the same entry as no label.
    expect((await post(router.url, query, { 'x-override-labels': 'unknown' })).cache).toBe('HIT');
    expect(subgraphs.old.requests.length - before).toBe(2);
  });
});
