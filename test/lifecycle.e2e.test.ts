import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres, startRedis, type PostgresServer, type RedisServer } from './services.ts';
import { postOnFreshConnection } from './support/fresh-connection.ts';
import { freePorts, runScript, type ServiceProcess } from './support/processes.ts';
import { postGraphQL } from './support/shop-graph.ts';
import { until } from './support/until.ts';

/**
 * A subgraph as a real process, as deployments run it (`subgraphs/serve.ts`),
 * through its life: started before its Postgres and Redis are up, then
 * stopped with SIGTERM under load. The products subgraph stands for all of
 * them; the lifecycle is shared platform code.
 */

const processes: ServiceProcess[] = [];
const servers: Array<PostgresServer | RedisServer> = [];

afterAll(async () => {
  // A safety net only: each test waits for its own processes to exit.
  await Promise.allSettled(processes.map((service) => service.stop('SIGKILL')));
  await Promise.allSettled(servers.map((server) => server.stop()));
});

function startProducts(port: number, env: NodeJS.ProcessEnv): ServiceProcess {
  const products = runScript('subgraphs/serve.ts', ['products'], {
    PRODUCTS_PORT: String(port),
    // Nothing from the machine running the tests: only what each test gives.
    REDIS_URL: undefined,
    LOG_LEVEL: 'info',
    ...env,
  });
  processes.push(products);
  return products;
}

/** Resolves with the exit code and when the process exited. */
function exited(service: ServiceProcess): Promise<{ code: number | null; at: number }> {
  return new Promise((resolve) => {
    if (service.child.exitCode !== null || service.child.signalCode !== null)
      resolve({ code: service.child.exitCode, at: Date.now() });
    else service.child.once('exit', (code) => resolve({ code, at: Date.now() }));
  });
}

async function readiness(port: number): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
  return { status: response.status, body: await response.json() };
}

const productsQuery = 'query ($first: Int!) { products(first: $first) { edges { node { id name } } } }';
const categoriesQuery = '{ categories { name } }';

describe('a subgraph started before its dependencies', () => {
  it('reports why it is not ready, then migrates, seeds and serves once Postgres and Redis are up, without a restart', async () => {
    const [port, postgresPort, redisPort] = (await freePorts(3)) as [number, number, number];
    // Trust authentication ignores it; it is there to show that no credential is ever shown.
    const password = 'never-shown-7f3a';
    const products = startProducts(port, {
      PRODUCTS_DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${postgresPort}/postgres`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    });

    await until(async () => (await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => null))?.ok === true, {
      timeoutMs: 60_000,
      what: 'products live',
    });
    await until(async () => /ECONNREFUSED/.test((await readiness(port)).body.checks.database.detail), {
      timeoutMs: 10_000,
      what: 'the reason on /health/ready',
    });
    const waitingForPostgres = await readiness(port);
    expect(waitingForPostgres.status).toBe(503);
    expect(waitingForPostgres.body).toEqual({
      status: 'not ready',
      phase: 'waiting',
      waitingFor: ['database'],
      checks: {
        database: { ok: false, detail: expect.stringMatching(/^waiting for the database: .*ECONNREFUSED/) },
      },
    });
    // Its migrations have not run: a query is refused, with the code clients already know.
    const early = await postGraphQL(`http://127.0.0.1:${port}/graphql`, productsQuery, { first: 1 });
    expect(early.status).toBe(503);
    expect(early.body.errors?.[0]?.extensions?.code).toBe('DATABASE_UNAVAILABLE');

    servers.push(await startPostgres({ port: postgresPort }));
    await until(async () => (await readiness(port)).body.checks.redis !== undefined, {
      timeoutMs: 60_000,
      what: 'products past its database',
    });
    await until(async () => /ECONNREFUSED/.test((await readiness(port)).body.checks.redis.detail), {
      timeoutMs: 10_000,
      what: 'the reason on /health/ready',
    });
    const waitingForRedis = await readiness(port);
    expect(waitingForRedis).toEqual({
      status: 503,
      body: {
        status: 'not ready',
        phase: 'waiting',
        waitingFor: ['redis'],
        checks: {
          database: { ok: true },
          redis: { ok: false, detail: expect.stringMatching(/^waiting for redis: .*ECONNREFUSED/) },
        },
      },
    });
    // Migrated and seeded: queries are served, while events wait for Redis in the outbox.
    const served = await postGraphQL<any>(`http://127.0.0.1:${port}/graphql`, productsQuery, { first: 2 });
    expect(served.status).toBe(200);
    expect(served.body.data.products.edges).toHaveLength(2);

    servers.push(await startRedis(redisPort));
    await until(async () => (await readiness(port)).status === 200, { timeoutMs: 30_000, what: 'products ready' });
    expect((await readiness(port)).body).toEqual({
      status: 'ready',
      phase: 'ready',
      checks: { schema: { ok: true }, database: { ok: true } },
    });

    const messages = products.logs().map((line) => line.msg);
    expect(messages.filter((msg) => msg === 'subgraph ready')).toHaveLength(1);
    expect(messages.filter((msg) => msg === 'database is empty; seeding')).toHaveLength(1);
    expect(messages).toContain('waiting for the database');
    expect(messages).toContain('waiting for redis');
    expect(products.output()).not.toContain(password);
    expect(JSON.stringify([waitingForPostgres, waitingForRedis])).not.toContain(password);

    const exit = exited(products);
    products.child.kill('SIGTERM');
    expect((await exit).code).toBe(0);
  }, 180_000);

  it('gives up at STARTUP_TIMEOUT_SECONDS, exiting 1, and stops at once when told to while waiting', async () => {
    const [givingUpPort, stoppedPort, nothingPort] = (await freePorts(3)) as [number, number, number];
    const database = `postgres://postgres@127.0.0.1:${nothingPort}/postgres`;
    const givingUp = startProducts(givingUpPort, { PRODUCTS_DATABASE_URL: database, STARTUP_TIMEOUT_SECONDS: '2' });
    const stopped = startProducts(stoppedPort, { PRODUCTS_DATABASE_URL: database, STARTUP_TIMEOUT_SECONDS: '0' });
    const [gaveUp] = await Promise.all([
      exited(givingUp),
      (async () => {
        await until(async () => (await readiness(stoppedPort).catch(() => null))?.status === 503, {
          timeoutMs: 60_000,
          what: 'the second subgraph waiting',
        });
        const signalledAt = Date.now();
        const exit = exited(stopped);
        stopped.child.kill('SIGTERM');
        const { code, at } = await exit;
        expect(code).toBe(0);
        // No drain outside production, and nothing to wait for.
        expect(at - signalledAt).toBeLessThan(2_000);
      })(),
    ]);
    expect(gaveUp.code).toBe(1);
    const fatal = givingUp.logs().find((line) => line.msg === 'failed to start');
    expect((fatal?.err as { message?: string } | undefined)?.message).toMatch(
      /^gave up waiting for the database: .*ECONNREFUSED/,
    );
  }, 120_000);

  it('warns at start of a misspelled variable it owns, naming the one it likely means', async () => {
    const [port, nothingPort] = (await freePorts(2)) as [number, number];
    const products = startProducts(port, {
      PRODUCTS_DATABASE_URL: `postgres://postgres@127.0.0.1:${nothingPort}/postgres`,
      PRODUCTS_DATABASE_URLL: 'postgres://postgres@127.0.0.1:5432/meant',
      STARTUP_TIMEOUT_SECONDS: '0',
    });
    await until(async () => (await readiness(port).catch(() => null))?.status === 503, {
      timeoutMs: 60_000,
      what: 'products waiting for its database',
    });
    expect(products.logs().filter((line) => line.level === 40 && line.variable !== undefined)).toEqual([
      expect.objectContaining({
        variable: 'PRODUCTS_DATABASE_URLL',
        suggestion: 'PRODUCTS_DATABASE_URL',
        msg: 'PRODUCTS_DATABASE_URLL is not a known variable; did you mean PRODUCTS_DATABASE_URL?',
      }),
    ]);
    const exit = exited(products);
    products.child.kill('SIGTERM');
    expect((await exit).code).toBe(0);
  }, 120_000);
});

describe('SIGTERM to a subgraph under load', () => {
  it('reports not ready, serves through the drain, then finishes the requests in flight and exits 0', async () => {
    const [port] = (await freePorts(1)) as [number];
    const server = await startPostgres();
    servers.push(server);
    const drainSeconds = 2;
    const timeoutSeconds = 20;
    const products = startProducts(port, {
      PRODUCTS_DATABASE_URL: server.adminUrl,
      SHUTDOWN_DRAIN_SECONDS: String(drainSeconds),
      SHUTDOWN_TIMEOUT_SECONDS: String(timeoutSeconds),
    });
    await until(async () => (await readiness(port).catch(() => null))?.status === 200, {
      timeoutMs: 120_000,
      what: 'products ready',
    });
    const exit = exited(products);
    const url = `http://127.0.0.1:${port}/graphql`;

    // 10 clients, each sending one request after another, each on a new connection, until the
    // subgraph has exited: 3 read categories, which the test will lock, 7 read products, which stay free.
    let stopped = false;
    void exit.then(() => (stopped = true));
    const outcomes: Array<{
      held: boolean;
      startedAt: number;
      endedAt: number;
      /** The TCP connection was established: accepted, so it must be answered. */
      connected: boolean;
      /** `ok`, the answer given, or why there was none (`ECONNREFUSED`, `ECONNRESET`…). */
      answer: string;
    }> = [];
    const clients = Array.from({ length: 10 }, async (_, client) => {
      const held = client < 3;
      for (let sent = 0; !stopped; sent++) {
        const outcome = await postOnFreshConnection(url, {
          query: held ? categoriesQuery : productsQuery,
          variables: { first: 1 + (sent % 5) },
        });
        let answer = outcome.error ?? `${outcome.status} ${outcome.body}`;
        if (outcome.error === null && outcome.status === 200) {
          const body = JSON.parse(outcome.body) as any;
          if (!body?.errors && (held ? body?.data?.categories : body?.data?.products)) answer = 'ok';
        }
        const { startedAt, endedAt, connected } = outcome;
        outcomes.push({ held, startedAt, endedAt, connected, answer });
        if (!connected) await sleep(20);
      }
    });
    await until(() => outcomes.filter((outcome) => outcome.answer === 'ok').length >= 50, {
      timeoutMs: 30_000,
      what: 'the load under way',
    });

    // Hold the category readers inside Postgres: their requests stay in flight until the lock goes.
    // Two connections: one reserved to hold the lock, one to watch who waits on it.
    const sql = postgres(server.adminUrl, { max: 2, onnotice: () => {} });
    const locker = await sql.reserve();
    try {
      await locker`begin`;
      await locker`lock table categories in access exclusive mode`;
      // One request may wait on more than one statement; every category reader waits on at least one.
      await until(
        async () =>
          (
            await sql<Array<{ waiting: number }>>`
              select count(*)::int as waiting from pg_stat_activity where wait_event_type = 'Lock'`
          )[0]!.waiting >= 3,
        { timeoutMs: 10_000, what: 'the category readers waiting on the lock' },
      );

      const signalledAt = Date.now();
      products.child.kill('SIGTERM');
      await until(async () => (await readiness(port)).status === 503, { timeoutMs: 1_000, what: 'readiness 503' });
      expect((await readiness(port)).body).toEqual({
        status: 'not ready',
        phase: 'draining',
        checks: { shutdown: { ok: false, detail: 'shutting down' } },
      });

      await products.waitFor((output) => output.includes('"stopping: no new connections'), 10_000);
      await sleep(300);
      await locker`commit`;
      const { code, at: exitedAt } = await exit;
      await Promise.all(clients);

      expect(code).toBe(0);
      expect(exitedAt - signalledAt).toBeLessThan(timeoutSeconds * 1000);
      const closedAt = products.logs().find((line) => line.msg?.toString().startsWith('stopping:'))!.time as number;
      expect(closedAt - signalledAt).toBeGreaterThanOrEqual(drainSeconds * 1000 - 50);

      const answered = outcomes.filter((outcome) => outcome.connected);
      const unanswered = outcomes.filter((outcome) => !outcome.connected);
      // Every connection the subgraph accepted was answered with its data: none reset, none cut short.
      expect(answered.filter((outcome) => outcome.answer !== 'ok')).toEqual([]);
      expect(outcomes.filter((outcome) => outcome.answer === 'ECONNRESET')).toEqual([]);
      // The others were refused, and only once its listener had closed: none while draining.
      expect(unanswered.filter((outcome) => outcome.answer !== 'ECONNREFUSED')).toEqual([]);
      expect(unanswered.filter((outcome) => outcome.endedAt < closedAt)).toEqual([]);
      const servedWhileDraining = answered.filter(
        (outcome) => outcome.startedAt > signalledAt && outcome.startedAt < closedAt,
      );
      expect(servedWhileDraining.length).toBeGreaterThan(0);
      // The held requests were in flight across the close, and finished.
      const heldAcrossClose = answered.filter(
        (outcome) => outcome.held && outcome.startedAt < closedAt && outcome.endedAt > closedAt,
      );
      expect(heldAcrossClose).toHaveLength(3);
      console.log(
        `subgraph under load, 10 clients on fresh connections: ${answered.length} connections accepted and answered 200 ` +
          `(${servedWhileDraining.length} while draining, ${heldAcrossClose.length} held across the close), ` +
          `${unanswered.length} refused after the close, 0 reset; ` +
          `stopped ${exitedAt - signalledAt} ms after SIGTERM`,
      );
    } finally {
      await locker`rollback`.catch(() => {});
      locker.release();
      await sql.end({ timeout: 5 });
    }
  }, 240_000);
});
