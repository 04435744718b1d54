/**
 * Vitest global setup: finds or starts the real Postgres and Redis that
 * `*.int.test.ts` files use, and hands their URLs to tests via `inject`.
 *
 * `TEST_POSTGRES_URL` / `TEST_REDIS_URL` point at existing servers (admin URL
 * for Postgres); otherwise throwaway servers are started from installed
 * binaries. Under `CI=true` a missing service fails the run: CI must never
 * pass by quietly testing less.
 */
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { pingRedis, startPostgres, startRedis } from './services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of a real Postgres, or `null` when tests fall back to PGlite (never under CI). */
    postgresAdminUrl: string | null;
    /** URL of a real Redis, or `null` when Redis-backed tests are skipped (never under CI). */
    redisUrl: string | null;
  }
}

interface Acquired {
  url: string;
  /** What the summary line says about it, e.g. `postgres 15.8 on 127.0.0.1:54321 (started)`. */
  description: string;
  stop(): Promise<void>;
}

interface TestServices {
  postgresAdminUrl: string | null;
  redisUrl: string | null;
  /** Projects of this run that still use the services; the last one to finish stops them. */
  users: number;
  teardown(): Promise<void>;
}

/**
 * Every vitest project that needs Postgres and Redis (int, e2e, soak) runs this
 * setup, all in the one vitest process: the first starts the servers, the
 * others share them, so `npm test` starts one Postgres and one Redis, not three.
 * A process-wide symbol, because vitest loads this module once per project.
 */
const sharedKey = Symbol.for('shop-graph.test-services');
type SharedServices = { [sharedKey]?: Promise<TestServices> };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = globalThis as SharedServices;
  shared[sharedKey] ??= acquireServices();
  const services = await shared[sharedKey];
  services.users += 1;
  project.provide('postgresAdminUrl', services.postgresAdminUrl);
  project.provide('redisUrl', services.redisUrl);
  return async () => {
    services.users -= 1;
    if (services.users > 0) return;
    delete shared[sharedKey];
    await services.teardown();
  };
}

async function acquireServices(): Promise<TestServices> {
  const ci = process.env.CI === 'true';
  const stops: Array<() => Promise<void>> = [];
  const teardown = async () => {
    const results = await Promise.allSettled([...stops].reverse().map((stop) => stop()));
    const failures = results.filter((result) => result.status === 'rejected');
    if (failures.length > 0) {
      throw new AggregateError(
        failures.map((failure) => failure.reason),
        'test services: stopping failed',
      );
    }
  };

  try {
    const pg = await acquire('postgres', ci, 'tests fall back to the embedded PGlite database', acquirePostgres);
    if (pg) stops.push(pg.stop);
    const redis = await acquire('redis', ci, 'Redis-backed tests are skipped', acquireRedis);
    if (redis) stops.push(redis.stop);

    const used = [pg?.description ?? 'no postgres (PGlite)', redis?.description ?? 'no redis'];
    console.log(`test services: ${used.join(', ')}`);
    return { postgresAdminUrl: pg?.url ?? null, redisUrl: redis?.url ?? null, users: 0, teardown };
  } catch (error) {
    // A half-started setup must not leave a server behind.
    await teardown().catch(() => {});
    throw error;
  }
}

/**
 * Outside CI a service that cannot be had is reported and replaced by `null`;
 * under CI it is an error. A URL given explicitly that does not answer is
 * always an error: falling back would hide a broken configuration.
 */
async function acquire(
  name: string,
  ci: boolean,
  fallback: string,
  get: () => Promise<Acquired>,
): Promise<Acquired | null> {
  try {
    return await get();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (ci || error instanceof ExplicitUrlError) {
      throw new Error(`test services: ${name} is required but unavailable: ${reason}`, { cause: error });
    }
    console.error(`test services: no ${name} (${reason.split('\n')[0]}); ${fallback}.`);
    return null;
  }
}

class ExplicitUrlError extends Error {}

async function acquirePostgres(): Promise<Acquired> {
  const explicit = process.env.TEST_POSTGRES_URL;
  if (explicit) {
    const version = await postgresVersion(explicit).catch((error: unknown) => {
      throw new ExplicitUrlError(`TEST_POSTGRES_URL does not answer: ${String(error)}`, { cause: error });
    });
    return {
      url: explicit,
      description: `postgres ${version} on ${hostOf(explicit)} (TEST_POSTGRES_URL)`,
      stop: async () => {},
    };
  }
  const server = await startPostgres();
  try {
    const version = await postgresVersion(server.adminUrl);
    return {
      url: server.adminUrl,
      description: `postgres ${version} on ${hostOf(server.adminUrl)} (started)`,
      stop: server.stop,
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function acquireRedis(): Promise<Acquired> {
  const explicit = process.env.TEST_REDIS_URL;
  if (explicit) {
    await pingRedis(explicit).catch((error: unknown) => {
      throw new ExplicitUrlError(`TEST_REDIS_URL does not answer: ${String(error)}`, { cause: error });
    });
    return { url: explicit, description: `redis on ${hostOf(explicit)} (TEST_REDIS_URL)`, stop: async () => {} };
  }
  const server = await startRedis();
  return { url: server.url, description: `redis on ${hostOf(server.url)} (started)`, stop: server.stop };
}

/** Also proves the server accepts queries, not just connections. */
async function postgresVersion(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    const [row] = await sql<{ server_version: string }[]>`show server_version`;
    return row?.server_version.split(' ')[0] ?? 'unknown version';
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** host:port only, so credentials in a URL never reach the log. */
function hostOf(url: string): string {
  return new URL(url).host;
}
