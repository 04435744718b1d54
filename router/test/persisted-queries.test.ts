import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { postPersisted, sha256 } from '../../test/support/persisted-queries.ts';
import { testLogger } from '../../test/support/shop-graph.ts';
import { startTimingSubgraph, timingSdl } from '../../test/support/timing-subgraph.ts';
import { startRouter, type RunningRouter } from '../src/router.ts';

/** The persisted-query protocol on one router with its in-process cache. */

let timing: Awaited<ReturnType<typeof startTimingSubgraph>>;
let router: RunningRouter;
let workdir: string;
let supergraphPath: string;

function supergraph(...fields: string[]) {
  const outcome = composeSupergraph([{ name: 'timing', url: timing.url, sdl: timingSdl(...fields) }]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  return outcome.supergraphSdl;
}

beforeAll(async () => {
  timing = await startTimingSubgraph();
  workdir = await mkdtemp(join(tmpdir(), 'apq-memory-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, supergraph('slow'));
  router = await startRouter(
    { host: '127.0.0.1', port: 0, supergraphPath, watchSupergraph: false, subgraphUrls: {}, nodeEnv: 'test' },
    testLogger('router'),
  );
});

afterAll(async () => {
  await router?.stop();
  await timing?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

describe('automatic persisted queries', () => {
  const query = '{ slow(ms: 1) }';
  const hash = sha256(query);

  it('asks for the query it does not know, then serves it by hash alone', async () => {
    expect((await postPersisted(router.url, { hash })).body.errors?.[0]?.extensions?.code).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );
    expect((await postPersisted(router.url, { hash, query })).body).toEqual({ data: { slow: 'done' } });
    expect((await postPersisted(router.url, { hash })).body).toEqual({ data: { slow: 'done' } });
  });

  it('serves a registered query by GET, which CDNs can cache', async () => {
    const extensions = encodeURIComponent(JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hash } }));
    const response = await fetch(`${router.url}?extensions=${extensions}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(await response.json()).toEqual({ data: { slow: 'done' } });
  });

  it('refuses a query whose text does not match its hash', async () => {
    const response = await postPersisted(router.url, {
      hash: sha256('{ something { else } }'),
      query: '{ slow(ms: 2) }',
    });
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]?.message).toMatch(/sha/i);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_HASH_MISMATCH');
  });

  it('refuses a version it does not know, or a persistedQuery that is not an object, as a bad request', async () => {
    for (const persistedQuery of [{ version: 2, sha256Hash: hash }, hash, 1, [1, hash]]) {
      const response = await fetch(router.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, extensions: { persistedQuery } }),
      });
      const body = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
      expect([response.status, body.errors?.[0]?.extensions?.code]).toEqual([400, 'BAD_REQUEST']);
    }
  });

  it('keeps registered queries across a supergraph reload', async () => {
    await writeFile(supergraphPath, supergraph('slow', 'slowV2'));
    expect(await router.reload()).toMatchObject({ status: 'reloaded' });
    expect((await postPersisted(router.url, { hash })).body).toEqual({ data: { slow: 'done' } });
  });
});
