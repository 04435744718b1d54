import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { startRedis, type RedisServer } from '../../test/services.ts';
import { runScript, type ServiceProcess } from '../../test/support/processes.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';

/**
 * Two router processes sharing one Redis hold one caller to one allowance
 * between them; with Redis gone, each falls back to counting in memory and
 * no request fails for it.
 */

const realRedis = inject('redisUrl') !== null;
const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    hello: String
  }
`;
const allowance = 10;

let redis: RedisServer;
let subgraph: TestSubgraph;
let workdir: string;
const routers: Array<{ process: ServiceProcess; url: string }> = [];

beforeAll(async () => {
  // Sharing needs a real Redis; without redis-server this file fails rather than skips.
  if (!realRedis) throw new Error('needs redis-server on PATH (.ci/run installs it)');
  [redis, subgraph] = await Promise.all([
    startRedis(),
    startTestSubgraph('hello', sdl, { Query: { hello: () => 'hi' } }),
  ]);
  const outcome = composeSupergraph([{ name: 'hello', url: subgraph.url, sdl }]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'rate-limit-e2e-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, outcome.supergraphSdl);
  for (let index = 0; index < 2; index++) {
    const process = runScript('router/src/main.ts', ['--supergraph', supergraphPath, '--port', '0'], {
      REDIS_URL: redis.url,
      RATE_LIMIT: 'on',
      RATE_LIMIT_POINTS: String(allowance),
      RATE_LIMIT_WINDOW_SECONDS: '60',
      RESPONSE_CACHE: 'off',
      LOG_LEVEL: 'info',
    });
    await process.waitFor((output) => output.includes('"router ready"') && output.includes('redis cache connected'));
    routers.push({ process, url: process.logs().find((line) => line.msg === 'router ready')!.url as string });
  }
});

afterAll(async () => {
  const codes = await Promise.all(routers.map(({ process }) => process.stop()));
  await Promise.allSettled([redis?.stop(), subgraph?.stop()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
  expect(codes).toEqual(routers.map(() => 0));
});

/** One anonymous client: both routers see the same loopback address, so one allowance. */
const post = (router: number) =>
  fetch(routers[router]!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ hello }' }),
  }).then((response) => response.status);

describe('rate limits across two router processes on one Redis', () => {
  it('hold one caller to one allowance, whichever router it reaches', async () => {
    const statuses: number[] = [];
    for (let index = 0; index < allowance + 4; index++) statuses.push(await post(index % 2));
    expect(statuses.filter((status) => status === 200)).toHaveLength(allowance);
    expect(statuses.slice(allowance)).toEqual([429, 429, 429, 429]);
    expect(subgraph.requests).toHaveLength(allowance);
  });

  it('fall back to counting in memory when Redis is gone, failing no request for it', async () => {
    await redis.stop();
    const statuses: number[] = [];
    for (let index = 0; index < 2 * allowance + 4; index++) statuses.push(await post(index % 2));
    // Each router now counts alone, from zero: a looser limit, but still a limit, and no errors.
    expect(statuses.filter((status) => status === 200)).toHaveLength(2 * allowance);
    expect(statuses.filter((status) => status === 429)).toHaveLength(4);
  });
});
