import { Agent, request } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerConfigFrom } from '../../router/src/config.ts';
import { ConfigError } from '../src/config.ts';
import { close, createHttpService, drain, listen } from '../src/http/server.ts';
import { describeFailure, stopInOrder, waitFor } from '../src/lifecycle.ts';
import { createLogger } from '../src/logger.ts';
import { subgraphConfigFromEnv } from '../src/subgraph/config.ts';

const logger = createLogger({ service: 'lifecycle-test', level: 'silent' });

describe('lifecycle settings', () => {
  it('drain for 5 s in production only, bound every stop at 25 s, and wait at start without limit in production only', () => {
    expect(subgraphConfigFromEnv('products', 4002, { NODE_ENV: 'production' }).lifecycle).toEqual({
      drainMs: 5_000,
      shutdownTimeoutMs: 25_000,
      startupTimeoutMs: null,
    });
    expect(routerConfigFrom([], { NODE_ENV: 'development' }).lifecycle).toEqual({
      drainMs: 0,
      shutdownTimeoutMs: 25_000,
      startupTimeoutMs: 60_000,
    });
  });

  it('reads the same variables for the router and every subgraph, fractions of seconds included', () => {
    const env = { SHUTDOWN_DRAIN_SECONDS: '1.5', SHUTDOWN_TIMEOUT_SECONDS: '10', STARTUP_TIMEOUT_SECONDS: '0' };
    const expected = { drainMs: 1_500, shutdownTimeoutMs: 10_000, startupTimeoutMs: null };
    expect(subgraphConfigFromEnv('orders', 4005, env).lifecycle).toEqual(expected);
    expect(routerConfigFrom([], env).lifecycle).toEqual(expected);
  });

  it('refuses a drain that leaves the stop no time, and durations that are not numbers of seconds', () => {
    expect(() => routerConfigFrom([], { NODE_ENV: 'production', SHUTDOWN_TIMEOUT_SECONDS: '5' })).toThrow(
      /SHUTDOWN_DRAIN_SECONDS: must be less than SHUTDOWN_TIMEOUT_SECONDS/,
    );
    expect(() => subgraphConfigFromEnv('orders', 4005, { SHUTDOWN_TIMEOUT_SECONDS: '-1' })).toThrow(
      /SHUTDOWN_TIMEOUT_SECONDS: expected a number of seconds/,
    );
    expect(() => subgraphConfigFromEnv('orders', 4005, { STARTUP_TIMEOUT_SECONDS: '1m' })).toThrow(ConfigError);
  });
});

describe('waiting for a dependency', () => {
  it('retries with growing pauses until the dependency answers, reporting each reason', async () => {
    const reasons: string[] = [];
    const attemptedAt: number[] = [];
    const value = await waitFor(
      async () => {
        attemptedAt.push(performance.now());
        if (attemptedAt.length < 4) throw new Error(`refused ${attemptedAt.length}`);
        return 'up';
      },
      {
        what: 'the test dependency',
        deadline: null,
        signal: new AbortController().signal,
        logger,
        onFailure: (reason) => reasons.push(reason),
        initialDelayMs: 20,
        maxDelayMs: 50,
      },
    );
    expect(value).toBe('up');
    expect(reasons).toEqual(['refused 1', 'refused 2', 'refused 3']);
    const pauses = attemptedAt.slice(1).map((at, index) => at - attemptedAt[index]!);
    // Jittered between half and all of 20, 40, then the 50 ms cap.
    expect(pauses[0]).toBeGreaterThanOrEqual(9);
    expect(pauses[1]).toBeGreaterThanOrEqual(19);
    expect(pauses[2]).toBeGreaterThanOrEqual(24);
  });

  it('gives up at the deadline, with the last reason', async () => {
    const started = Date.now();
    await expect(
      waitFor(() => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')), {
        what: 'the database',
        deadline: started + 200,
        signal: new AbortController().signal,
        logger,
        initialDelayMs: 20,
        maxDelayMs: 40,
      }),
    ).rejects.toThrow('gave up waiting for the database: connect ECONNREFUSED 127.0.0.1:5432');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('stops waiting at once when aborted', async () => {
    const aborted = new AbortController();
    const waiting = waitFor(() => Promise.reject(new Error('down')), {
      what: 'the database',
      deadline: null,
      signal: aborted.signal,
      logger,
      initialDelayMs: 60_000,
    });
    setTimeout(() => aborted.abort(), 20);
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('gives the root cause, never a quoted statement or the credentials of a URL', () => {
    expect(describeFailure(new Error('cannot reach postgres://shop:s3cret@db:5432/shop'))).toBe(
      'cannot reach postgres://[redacted]@db:5432/shop',
    );
    const driverError = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(
      describeFailure(
        new Error('Failed query: select email from users where id = $1\nparams: ada', { cause: driverError }),
      ),
    ).toBe('connect ECONNREFUSED 127.0.0.1:5432');
    const perAddress = new AggregateError([
      Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    ]);
    expect(describeFailure(perAddress)).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
  });
});

describe('stopping in order', () => {
  it('runs every step once, in order, even past a failing one, and names what is still open', async () => {
    const ran: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const sequence = stopInOrder([
      { name: 'http server', stop: () => void ran.push('http'), detail: async () => '2 connections open' },
      {
        name: 'consumers',
        stop: async () => {
          ran.push('consumers');
          await held;
          throw new Error('consumer did not stop');
        },
      },
      { name: 'database', stop: async () => void ran.push('database') },
    ]);
    const stopping = sequence.stop();
    expect(sequence.stop()).toBe(stopping);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await sequence.stillOpen()).toEqual(['consumers', 'database']);
    release();
    await expect(stopping).rejects.toThrow('consumer did not stop');
    expect(ran).toEqual(['http', 'consumers', 'database']);
    expect(await sequence.stillOpen()).toEqual([]);
  });
});

describe('draining an HTTP service', () => {
  let apollo: ApolloServer;
  let server: ReturnType<typeof createHttpService>;
  let base: string;

  beforeAll(async () => {
    apollo = new ApolloServer({
      typeDefs: 'type Query { hello: String }',
      resolvers: { Query: { hello: () => 'hi' } },
    });
    await apollo.start();
    server = createHttpService({
      logger,
      graphql: (httpGraphQLRequest) =>
        apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({}) }),
      readiness: async () => ({ database: { ok: true } }),
    });
    base = (await listen(server, 0, '127.0.0.1')).url;
  });

  afterAll(async () => {
    await close(server);
    await apollo.stop();
  });

  /** The status and Connection header of one keep-alive POST. */
  const post = () =>
    new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const outgoing = request(
        `${base}/graphql`,
        { method: 'POST', headers: { 'content-type': 'application/json', connection: 'keep-alive' } },
        (response) => {
          response.resume();
          resolve({ status: response.statusCode!, connection: response.headers.connection });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(JSON.stringify({ query: '{ hello }' }));
    });

  it('reports not ready while it still serves, and closes each connection after its response', async () => {
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect(await post()).toEqual({ status: 200, connection: 'keep-alive' });

    drain(server);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      status: 'not ready',
      phase: 'draining',
      checks: { shutdown: { ok: false, detail: 'shutting down' } },
    });
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    expect(await post()).toEqual({ status: 200, connection: 'close' });
  });
});

describe('stopping an HTTP service that keeps connections alive', () => {
  it('closes a connection a client keeps idle at once, without waiting out the 65 s keep-alive', async () => {
    const apollo = new ApolloServer({
      typeDefs: 'type Query { hello: String }',
      resolvers: { Query: { hello: () => 'hi' } },
    });
    await apollo.start();
    const server = createHttpService({
      logger,
      graphql: (httpGraphQLRequest) =>
        apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({}) }),
      readiness: async () => ({}),
    });
    const base = (await listen(server, 0, '127.0.0.1')).url;
    const agent = new Agent({ keepAlive: true });
    try {
      let socketClosed: Promise<void> = Promise.resolve();
      await new Promise<void>((resolve, reject) => {
        const outgoing = request(
          `${base}/graphql`,
          { agent, method: 'POST', headers: { 'content-type': 'application/json' } },
          (response) => {
            expect(response.headers['keep-alive']).toMatch(/timeout=65/);
            socketClosed = new Promise<void>((done) => response.socket.once('close', () => done()));
            response.resume().on('end', resolve);
          },
        );
        outgoing.on('error', reject);
        outgoing.end(JSON.stringify({ query: '{ hello }' }));
      });
      // The connection now sits idle in the agent's pool; a stop that waited for it would outlast this test's limit.
      await close(server);
      await socketClosed;
    } finally {
      agent.destroy();
      await apollo.stop();
    }
  }, 30_000);
});
