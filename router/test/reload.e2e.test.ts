import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedProduct, seedUser } from '../../seed/world.ts';
import { composeFor, postGraphQL, startSubgraphs, type StartedSubgraphs } from '../../test/support/shop-graph.ts';
import { runScript, type ServiceProcess } from '../../test/support/processes.ts';
import { createGate, startTimingSubgraph, timingSdl } from '../../test/support/timing-subgraph.ts';
import { signTestToken, testIdentitySecret, testJwtSecret } from '../../test/support/tokens.ts';
import { until } from '../../test/support/until.ts';

/**
 * The router as a real process, started on a supergraph file given on the
 * command line, then made to swap supergraphs while requests are in flight.
 *
 * A `timing` subgraph answers `slow(ms)` after a delay, so requests are
 * provably in flight during a swap. It serves both `slow` and `slowV2`; the
 * first supergraph exposes only `slow`, the second only `slowV2`. A request
 * validated against the old supergraph but planned or executed against the
 * new one would fail, so every in-flight `slow` succeeding shows each
 * request finished on the supergraph it started on.
 */

const gate = createGate();
gate.open();

let shop: StartedSubgraphs;
let timing: Awaited<ReturnType<typeof startTimingSubgraph>>;
let router: ServiceProcess;
let routerUrl: string;
let workdir: string;
let supergraphPath: string;

function supergraph(timingField: 'slow' | 'slowV2'): string {
  return composeFor({ ...shop.byName, timing }, { timing: timingSdl(timingField) });
}

/** Replaces the file the way editors and deploy tools do: write aside, then rename over. */
async function replaceSupergraph(content: string) {
  const aside = `${supergraphPath}.tmp`;
  await writeFile(aside, content);
  await rename(aside, supergraphPath);
}

const logMessages = () => router.logs().map((line) => line.msg);

beforeAll(async () => {
  [shop, timing] = await Promise.all([startSubgraphs('router_reload'), startTimingSubgraph(gate)]);
  workdir = await mkdtemp(join(tmpdir(), 'router-reload-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, supergraph('slow'));
  router = runScript('router/src/main.ts', ['--supergraph', supergraphPath, '--port', '0', '--host', '127.0.0.1'], {
    LOG_LEVEL: 'info',
    AUTH_JWT_SECRET: testJwtSecret,
    INTERNAL_IDENTITY_SECRET: testIdentitySecret,
  });
  await router.waitFor((output) => output.includes('"router ready"'));
  routerUrl = router.logs().find((line) => line.msg === 'router ready')!.url as string;
});

afterAll(async () => {
  const code = await router?.stop();
  await Promise.allSettled([shop?.stop(), timing?.stop()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
  expect(code).toBe(0);
});

describe('router process', () => {
  it('serves the supergraph given with --supergraph, across all subgraphs, with no errors', async () => {
    const response = await postGraphQL<any>(
      routerUrl,
      `query ($id: ID!) { slow(ms: 1) product(id: $id) { name quantity reviewCount reviews(first: 1) { edges { node { author { name } } } } } viewer { name orders(first: 1) { totalCount } } }`,
      { id: seedProduct(0).id },
      // Orders are their owner's: the router verifies the token and signs the caller for the subgraphs.
      { authorization: `Bearer ${await signTestToken(testJwtSecret, seedUser(0).id)}` },
    );
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.slow).toBe('done');
    expect(response.body.data.product.name).toBe(seedProduct(0).name);
    expect(response.body.data.product.reviews.edges[0].node.author.name).toEqual(expect.any(String));
    expect(response.body.data.viewer).toEqual({ name: seedUser(0).name, orders: { totalCount: expect.any(Number) } });
  });

  it('swaps to an edited supergraph without failing requests in flight', async () => {
    const requests = 40;
    gate.close();
    // Distinct arguments: the router sends identical concurrent fetches only once.
    const inFlight = Array.from({ length: requests }, (_, index) =>
      postGraphQL<any>(routerUrl, `{ slow(ms: ${index + 1}) }`),
    );
    // Every request has been planned and sent by the router, and is held in the subgraph.
    await until(() => gate.waiting === requests, {
      timeoutMs: 30_000,
      what: `all ${requests} requests reaching the subgraph`,
    });

    await replaceSupergraph(supergraph('slowV2'));
    await router.waitFor(() => logMessages().includes('supergraph reloaded'), 30_000);
    const reloaded = router.logs().find((line) => line.msg === 'supergraph reloaded')!;
    expect(reloaded.draining).toBe(requests);

    // New requests see the new supergraph, and only it, while the old requests are still held.
    expect((await postGraphQL<any>(routerUrl, '{ slowV2(ms: 1) }')).body).toEqual({ data: { slowV2: 'done' } });

    gate.open();
    const responses = await Promise.all(inFlight);
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ data: { slow: 'done' } });
    }

    // New requests see the new supergraph, and only it.
    expect((await postGraphQL<any>(routerUrl, '{ slowV2(ms: 1) }')).body).toEqual({ data: { slowV2: 'done' } });
    const removed = await postGraphQL<any>(routerUrl, '{ slow(ms: 1) }');
    expect(removed.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it.each([
    { case: 'a file that does not parse', content: 'type Query {' },
    { case: 'a schema that is not a supergraph', content: 'type Query { hello: String }' },
    { case: 'an empty file', content: '' },
  ])('refuses $case, logs why, and keeps serving', async ({ content }) => {
    const rejectionsBefore = logMessages().filter(
      (msg) => msg === 'new supergraph rejected; still serving the previous one',
    ).length;
    await replaceSupergraph(content);
    await router.waitFor(
      () =>
        logMessages().filter((msg) => msg === 'new supergraph rejected; still serving the previous one').length >
        rejectionsBefore,
      15_000,
    );
    const rejection = router
      .logs()
      .findLast((line) => line.msg === 'new supergraph rejected; still serving the previous one')!;
    expect(rejection.reason).toEqual(expect.any(String));
    expect(String(rejection.reason).length).toBeGreaterThan(0);

    const response = await postGraphQL<any>(routerUrl, '{ slowV2(ms: 1) }');
    expect(response.body).toEqual({ data: { slowV2: 'done' } });
    expect((await fetch(routerUrl.replace(/graphql$/, 'health/ready'))).status).toBe(200);
  });
});
