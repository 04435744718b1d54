import { request } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { close, createHttpService, listen } from '../src/http/server.ts';
import { createLogger } from '../src/logger.ts';

let apollo: ApolloServer;
let server: ReturnType<typeof createHttpService>;
let base: string;
let ready = true;

beforeAll(async () => {
  apollo = new ApolloServer({
    typeDefs: 'type Query { hello(name: String): String } type Mutation { touch: Boolean }',
    resolvers: { Query: { hello: (_: unknown, { name }: { name?: string }) => `hello ${name ?? 'world'}` } },
  });
  await apollo.start();
  server = createHttpService({
    logger: createLogger({ service: 'http-test', level: 'silent' }),
    maxBodyBytes: 1024,
    graphql: (httpGraphQLRequest) =>
      apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({}) }),
    readiness: async () => ({ database: ready ? { ok: true } : { ok: false, detail: 'connection refused' } }),
  });
  base = (await listen(server, 0, '127.0.0.1')).url;
});

afterAll(async () => {
  await close(server);
  await apollo.stop();
});

const post = (body: string | Buffer, contentType = 'application/json') =>
  fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': contentType }, body });

/** Sends a body in chunks without a content-length, as a streaming client would. */
function postChunked(chunks: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/graphql`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('HTTP front of a service', () => {
  it('serves a JSON POST', async () => {
    const response = await post(JSON.stringify({ query: '{ hello(name: "shop") }' }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { hello: 'hello shop' } });
  });

  it('serves a GET query that carries a preflight header, and refuses one that does not (CSRF prevention)', async () => {
    const url = `${base}/graphql?query=${encodeURIComponent('{ hello }')}`;
    expect(await (await fetch(url, { headers: { 'apollo-require-preflight': 'true' } })).json()).toEqual({
      data: { hello: 'hello world' },
    });
    expect((await fetch(url)).status).toBe(400);
  });

  it('keeps an idle connection longer than client pools and load balancers keep theirs, so the client closes first', async () => {
    const response = await post(JSON.stringify({ query: '{ hello }' }));
    await response.arrayBuffer();
    const timeoutSeconds = Number(/timeout=(\d+)/.exec(response.headers.get('keep-alive') ?? '')?.[1]);
    // 60 s is the common load-balancer idle timeout; the router's own subgraph pools keep 30 s.
    expect(timeoutSeconds).toBeGreaterThan(60);
  });

  it('refuses a mutation over GET', async () => {
    const url = `${base}/graphql?query=${encodeURIComponent('mutation { touch }')}`;
    expect((await fetch(url, { headers: { 'apollo-require-preflight': 'true' } })).status).toBe(405);
  });

  it.each([
    { case: 'invalid JSON', body: '{"query": ', status: 400, code: 'BAD_REQUEST' },
    {
      case: 'non-UTF-8 bytes',
      body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      case: 'a body over the limit',
      body: JSON.stringify({ query: `{ hello(name: "${'x'.repeat(2048)}") }` }),
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
  ])('answers $case with $status and a coded error', async ({ body, status, code }) => {
    const response = await post(body);
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ errors: [{ message: expect.any(String), extensions: { code } }] });
  });

  it('stops reading a chunked body once it passes the limit', async () => {
    expect(await postChunked(Array.from({ length: 8 }, () => Buffer.alloc(512, 0x20)))).toBe(413);
  });

  it('refuses a text/plain POST (CSRF prevention)', async () => {
    expect((await post(JSON.stringify({ query: '{ hello }' }), 'text/plain')).status).toBe(400);
  });

  it('answers an unparsable request target with 400, not a server error', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: new URL(base).port, path: 'http://[', method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
  });

  it('answers unknown paths with 404', async () => {
    const response = await fetch(`${base}/admin`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'NOT_FOUND' } }] });
  });

  it('reports liveness always and readiness from its checks', async () => {
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    ready = false;
    const notReady = await fetch(`${base}/health/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      status: 'not ready',
      phase: 'ready',
      checks: { database: { ok: false, detail: 'connection refused' } },
    });
    ready = true;
  });
});
