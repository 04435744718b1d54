import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { schemaFileOf, subgraphs } from '../../subgraphs/registry.ts';
import { postGraphQL, testLogger } from '../../test/support/shop-graph.ts';
import { freePorts } from '../../test/support/processes.ts';
import { startRouter, type RunningRouter } from '../src/router.ts';

/**
 * A subgraph nobody listens for: the router must answer with a coded error,
 * naming the subgraph in development only, and say nothing of its network
 * outside development.
 */

let workdir: string;
let supergraphPath: string;
let deadUrl: string;

beforeAll(async () => {
  const [port] = await freePorts(1);
  deadUrl = `http://127.0.0.1:${port}/graphql`;
  const outcome = composeSupergraph(
    subgraphs.map(({ name }) => ({ name, url: deadUrl, sdl: readFileSync(schemaFileOf(name), 'utf8') })),
  );
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'unreachable-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, outcome.supergraphSdl);
});

afterAll(async () => {
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

async function withRouter(nodeEnv: 'production' | 'development', run: (router: RunningRouter) => Promise<void>) {
  const router = await startRouter(
    { host: '127.0.0.1', port: 0, supergraphPath, watchSupergraph: false, subgraphUrls: {}, nodeEnv },
    testLogger('router'),
  );
  try {
    await run(router);
  } finally {
    await router.stop();
  }
}

describe('an unreachable subgraph', () => {
  it('is SUBGRAPH_UNAVAILABLE in production, with no subgraph name, address or stack', async () => {
    await withRouter('production', async (router) => {
      const response = await postGraphQL(router.url, '{ products(first: 1) { totalCount } }');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        data: null,
        errors: [
          {
            message: 'Part of this response is unavailable. Try again shortly.',
            // Which field is missing is the client's to know; which subgraph failed is not.
            path: ['products'],
            extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
          },
        ],
        // What an operator needs to find the real error in the log.
        extensions: { requestId: response.headers.get('x-request-id') },
      });
    });
  });

  it('is explained in development by the stack trace, never by the message', async () => {
    await withRouter('development', async (router) => {
      const response = await postGraphQL(router.url, '{ products(first: 1) { totalCount } }');
      const [error] = response.body.errors ?? [];
      expect(error?.message).toBe('The products subgraph is unavailable. Try again shortly.');
      expect((error?.extensions?.stacktrace as string[]).join('\n')).toContain(deadUrl);
    });
  });
});
