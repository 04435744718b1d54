import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postPersisted, sha256 } from '../../test/support/persisted-queries.ts';
import { runScript, type ServiceProcess } from '../../test/support/processes.ts';
import { composeFor, startSubgraphs, type StartedSubgraphs } from '../../test/support/shop-graph.ts';

/**
 * Automatic persisted queries across two real router processes that share
 * Redis: a query registered through one is served by hash alone through
 * the other. Outside CI without Redis there is nothing to share, and the
 * in-process tests in persisted-queries.test.ts cover the protocol.
 */

const redisUrl = inject('redisUrl');

let subgraphs: StartedSubgraphs;
let workdir: string;
const routers: ServiceProcess[] = [];
const urls: string[] = [];

beforeAll(async () => {
  if (!redisUrl) return;
  subgraphs = await startSubgraphs('apq_shared');
  workdir = await mkdtemp(join(tmpdir(), 'apq-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeFor(subgraphs.byName));
  for (let instance = 0; instance < 2; instance++) {
    const router = runScript('router/src/main.ts', ['--supergraph', supergraphPath, '--port', '0'], {
      REDIS_URL: redisUrl,
      LOG_LEVEL: 'info',
    });
    routers.push(router);
    await router.waitFor((output) => output.includes('"router ready"'));
    urls.push(router.logs().find((line) => line.msg === 'router ready')!.url as string);
  }
});

afterAll(async () => {
  await Promise.all(routers.map((router) => router.stop()));
  await subgraphs?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

describe('persisted queries shared through Redis', () => {
  it(
    redisUrl
      ? 'registers a query on one router and serves it by hash on another'
      : 'needs Redis, which only CI guarantees',
    async () => {
      if (!redisUrl) {
        expect(process.env.CI).not.toBe('true');
        return;
      }
      // A query no earlier run can have registered.
      const query = `{ fresh_${randomBytes(6).toString('hex')}: products(first: 2) { totalCount edges { node { name } } } }`;
      const hash = sha256(query);
      const [first, second] = urls as [string, string];

      const unknown = await postPersisted(second, { hash });
      expect(unknown.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');

      const registered = await postPersisted(first, { hash, query });
      expect(registered.body.errors).toBeUndefined();

      const served = await postPersisted(second, { hash });
      expect(served.status).toBe(200);
      expect(served.body).toEqual(registered.body);

      // Stored once, under the APQ prefix, with the configured lifetime (24 h by default).
      const redis = createClient({ url: redisUrl });
      await redis.connect();
      try {
        const ttlMs = await redis.pTTL(`apq:${hash}`);
        expect(ttlMs).toBeGreaterThan(86_400_000 - 60_000);
        expect(ttlMs).toBeLessThanOrEqual(86_400_000);
      } finally {
        await redis.close();
      }
    },
  );
});
