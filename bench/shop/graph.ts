/**
 * Our own shop graph for the realistic workloads: a throwaway Postgres with
 * one database per subgraph, migrated and seeded with the deterministic
 * seed world, and every subgraph as its own process (`subgraphs/serve.ts`),
 * exactly as deployed, with the INTERNAL_IDENTITY_SECRET they verify the
 * forwarded caller with.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { envPrefix } from '../../platform/src/config.ts';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import type { SeedSize } from '../../platform/src/subgraph/definition.ts';
import { schemaFileOf, subgraphs } from '../../subgraphs/registry.ts';
import { startPostgres } from '../../test/services.ts';
import { freePorts } from '../../test/support/processes.ts';
import type { SeededUsers } from '../lib/callers.ts';
import { ControlChannel } from '../lib/control.ts';
import { onCleanup, startProcess, type ManagedProcess } from '../lib/processes.ts';
import type { RunningGraph } from '../subgraphs/graph.ts';
import type { ShopIds } from '../workloads/index.ts';

export interface RunningShop extends RunningGraph {
  ids: ShopIds;
  seededUsers: SeededUsers;
  /** How long migrating and seeding took, for the report. */
  seedSeconds: number;
}

export async function startShopGraph(options: {
  size: SeedSize;
  core: number | null;
  workDir: string;
  /** INTERNAL_IDENTITY_SECRET, shared with our router and used to pre-sign identities for the other gateways. */
  identitySecret: string;
  log: (line: string) => void;
}): Promise<RunningShop> {
  const server = await startPostgres();
  onCleanup(() => server.stop());
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  const urls: Record<string, string> = {};
  try {
    for (const { name } of subgraphs) {
      await admin.unsafe(`create database ${name}`);
      urls[name] = server.adminUrl.replace(/\/postgres$/, `/${name}`);
    }
  } finally {
    await admin.end();
  }
  const databaseEnv = Object.fromEntries(subgraphs.map(({ name }) => [`${envPrefix(name)}_DATABASE_URL`, urls[name]]));

  // Seeding is not measured, so it may use every core; Postgres itself stays where the runner put it.
  const seeding = performance.now();
  options.log(`shop: migrating and seeding ${options.size} data`);
  for (const task of [['migrate'], ['seed', ...(options.size === 'scale' ? ['--scale'] : [])]]) {
    await runToCompletion(
      startProcess({
        name: `db ${task[0]}`,
        command: [process.execPath, '--import', 'tsx', 'scripts/db.ts', ...task],
        env: { ...databaseEnv, LOG_LEVEL: 'warn' },
        core: null,
      }),
    );
  }
  const seedSeconds = (performance.now() - seeding) / 1000;
  options.log(`shop: seeded in ${seedSeconds.toFixed(1)} s`);

  const ports = await freePorts(subgraphs.length);
  const running = subgraphs.map(({ name }, index) => {
    const port = ports[index]!;
    const handle = startProcess({
      name: `shop-${name}`,
      command: [
        process.execPath,
        '--import',
        'tsx/esm',
        '--import',
        './bench/shop/count-requests.ts',
        'subgraphs/serve.ts',
        name,
      ],
      env: {
        ...databaseEnv,
        [`${envPrefix(name)}_PORT`]: String(port),
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        INTERNAL_IDENTITY_SECRET: options.identitySecret,
      },
      core: options.core,
      ipc: true,
    });
    return { name, port, handle, control: new ControlChannel(handle.child) };
  });
  await Promise.all(running.map(({ name, port, handle }) => waitUntilReady(name, port, handle)));

  const outcome = composeSupergraph(
    running.map(({ name, port }) => ({
      name,
      url: `http://127.0.0.1:${port}/graphql`,
      sdl: readFileSync(schemaFileOf(name), 'utf8'),
    })),
  );
  if (!outcome.ok) throw new Error(`shop subgraphs do not compose:\n${outcome.errors.join('\n')}`);
  const supergraphPath = join(options.workDir, 'shop-supergraph.graphql');
  writeFileSync(supergraphPath, outcome.supergraphSdl);

  const { ids, userIds } = await pickIds(urls);
  return {
    supergraphPath,
    ids,
    seededUsers: { userIds, identitySecret: options.identitySecret },
    seedSeconds,
    async requestCount() {
      const counts = await Promise.all(running.map(({ control }) => control.counts()));
      return counts.reduce((sum, each) => sum + Object.values(each).reduce((a, b) => a + b, 0), 0);
    },
    async setDelay(ms) {
      if (ms !== 0) throw new Error('the shop subgraphs cannot add a delay');
    },
  };
}

/**
 * How many users a signed-in workload's requests come from, at most. Far
 * more than the connections, so that concurrent requests are almost never
 * from one user (our router shares identical in-flight fetches of one
 * caller, and the other gateways do not).
 */
const maxSignedInUsers = 1_000;

/**
 * The most reviewed product, for a page with something on it, and the
 * users with the most orders (the first one is the one the correctness
 * check asks for), for order histories with orders in them.
 */
async function pickIds(urls: Record<string, string>): Promise<{ ids: ShopIds; userIds: string[] }> {
  const reviews = postgres(urls.reviews!, { max: 1 });
  const orders = postgres(urls.orders!, { max: 1 });
  try {
    const [product] =
      await reviews`select product_id from reviews group by product_id order by count(*) desc, product_id limit 1`;
    const users =
      await orders`select user_id from orders group by user_id order by count(*) desc, user_id limit ${maxSignedInUsers}`;
    if (!product || users.length === 0) throw new Error('the seeded shop has no reviews or no orders');
    return { ids: { productId: product.product_id as string }, userIds: users.map((user) => user.user_id as string) };
  } finally {
    await Promise.all([reviews.end(), orders.end()]);
  }
}

async function runToCompletion(handle: ManagedProcess): Promise<void> {
  const code = await handle.exited;
  await handle.stop();
  if (code !== 0) throw new Error(`${handle.name} failed (code ${code}):\n${handle.output()}`);
}

async function waitUntilReady(name: string, port: number, handle: ManagedProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (handle.hasExited()) throw new Error(`shop subgraph ${name} exited:\n${handle.output()}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`shop subgraph ${name} not ready after 120 s:\n${handle.output()}`);
}
