import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphQLError } from 'graphql';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { sha256 } from '../../test/support/persisted-queries.ts';
import { startTestRouter } from '../../test/support/shop-graph.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { signTestToken, testJwtSecret } from '../../test/support/tokens.ts';
import { maxRequestJsonDepth, nestsDeeperThan } from '../src/operation-request.ts';
import { defaultQueryLimits } from '../src/plugins/query-limits/index.ts';
import type { RunningRouter } from '../src/router.ts';
import { cacheableForAMinute } from './support/cacheable.ts';

/**
 * A corpus of hostile requests against a production router with its
 * default limits: every one is refused with a 4xx or a coded client error
 * (never a 5xx, never INTERNAL_SERVER_ERROR, nothing logged as a fault),
 * none leaks a limit, a stack, a schema suggestion, a subgraph or vendor
 * name, SQL or an address, and not one reaches the subgraph (it counts
 * what it receives). Then what the response cache and the rate limits do
 * with the same kinds of request.
 */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Node {
    id: ID!
    name: String
    child: Node
    children: [Node!]!
  }
  type Query {
    node: Node
    hello: String
    cached: String
    badInput: String
    crash: String
  }
  type Mutation {
    touch: String
  }
`;

const trustedQuery = '{ hello }';
/** Over the cost limit, but reviewed: in the manifest, so exempt from it. */
const costlyQuery = `{ node { ${'children { children { children { children { children { id } } } } } '.repeat(50)}} }`;

let subgraph: TestSubgraph;
let open: RunningRouter;
let enforcing: RunningRouter;
let workdir: string;
let supergraphPath: string;
/** What the open router logs, at every level. */
const logLines: Array<{ level: number; msg: string }> = [];

beforeAll(async () => {
  const node = (): object => ({ id: '1', name: 'n', child: node, children: () => [] });
  subgraph = await startTestSubgraph('nodes', sdl, {
    Query: {
      node,
      // Cacheable too, so the corpus, which asks for it most, can be sent against a warm cache.
      hello: cacheableForAMinute('hi'),
      cached: cacheableForAMinute('kept'),
      badInput: () => {
        throw new GraphQLError('`sku` must not be empty.', { extensions: { code: 'BAD_USER_INPUT' } });
      },
      crash: () => {
        throw new Error('relation "nodes" at 10.0.0.7:5432: select * from nodes where id = $1');
      },
    },
    Mutation: { touch: () => 'touched' },
  });
  const outcome = composeSupergraph([{ name: 'nodes', url: subgraph.url, sdl }]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'hostile-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  const manifestPath = join(workdir, 'manifest.json');
  await writeFile(supergraphPath, outcome.supergraphSdl);
  await writeFile(
    manifestPath,
    JSON.stringify({ [sha256(trustedQuery)]: trustedQuery, [sha256(costlyQuery)]: costlyQuery }),
  );
  // Production defaults: no test-only relaxations.
  const production = { nodeEnv: 'production' as const, limits: defaultQueryLimits };
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  open = await startTestRouter(supergraphPath, production, logger);
  enforcing = await startTestRouter(supergraphPath, {
    ...production,
    trustedDocuments: { mode: 'enforce', manifestPath },
  });
});

afterAll(async () => {
  await open?.stop();
  await enforcing?.stop();
  await subgraph?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

interface Hostile {
  name: string;
  /** Against the router enforcing trusted documents, rather than the open one. */
  enforcing?: boolean;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The query string of a GET. */
  search?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The status and code the refusal must have, where the case has one answer. */
  expected?: { status: number; code: string };
}

const json = (value: unknown) => JSON.stringify(value);
const post = (name: string, payload: unknown, extra: Partial<Hostile> = {}): Hostile => ({
  name,
  body: json(payload),
  ...extra,
});
const deepJson = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/** An APQ request; a null query sends the hash alone. */
const apq = (persistedQuery: unknown, query: string | null = '{ hello }') => ({
  ...(query === null ? {} : { query }),
  extensions: { persistedQuery },
});
const badRequest = { status: 400, code: 'BAD_REQUEST' };
const unauthenticated = { status: 401, code: 'UNAUTHENTICATED' };

/** Tokens from the trusted issuer, well signed, whose claims have the wrong type. */
const mistypedTokens = await Promise.all(
  (
    [
      ['sub', 42],
      ['sub', true],
      ['sub', { id: 'user-1' }],
      ['sub', ['user-1']],
      ['sub', ''],
      ['sub', 'user\u0000-1'],
      ['scope', 7],
      ['scp', { orders: 'read' }],
    ] as const
  ).map(async ([claim, value]) => ({
    name: `a token whose "${claim}" is ${JSON.stringify(value)}`,
    token: await new SignJWT({ sub: 'user-1', [claim]: value })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(testJwtSecret)),
  })),
);

const nested = (depth: number) => `{ node { ${'child { '.repeat(depth - 2)}id${' }'.repeat(depth - 2)} } }`;
const aliases = (count: number) => `{ ${Array.from({ length: count }, (_, index) => `a${index}: hello`).join(' ')} }`;

const corpus: Hostile[] = [
  // Depth: the defaults allow 7; everything deeper is refused.
  ...Array.from({ length: 43 }, (_, index) => index + 8).map((depth) =>
    post(`depth ${depth}`, { query: nested(depth) }),
  ),
  // Aliases.
  ...[16, 20, 50, 100, 500, 1_000, 5_000, 10_000].map((count) => post(`${count} aliases`, { query: aliases(count) })),
  // Directive floods.
  ...[11, 50, 400].map((count) =>
    post(`${count} directives on one field`, { query: `{ hello ${'@include(if: true) '.repeat(count)}}` }),
  ),
  post('directives spread over fields', {
    query: `{ ${Array.from({ length: 30 }, (_, index) => `h${index}: hello @skip(if: false)`).join(' ')} }`,
  }),
  // Token floods.
  post('1,001 tokens', { query: `{ ${'hello '.repeat(1_001)}}` }),
  post('100,000 tokens', { query: `{ ${'hello '.repeat(100_000)}}` }),
  post('a flood of punctuation', { query: '{'.repeat(50_000) }),
  post('a flood of arguments', { query: `{ hello(${Array.from({ length: 600 }, (_, i) => `a${i}: 1`).join(', ')}) }` }),
  // Fragment cycles.
  post('a fragment that spreads itself', { query: '{ node { ...A } } fragment A on Node { child { ...A } }' }),
  post('two fragments spreading each other', {
    query: '{ node { ...A } } fragment A on Node { child { ...B } } fragment B on Node { child { ...A } }',
  }),
  post('a cycle through inline fragments', {
    query: '{ node { ...A } } fragment A on Node { ... on Node { child { ...A } } }',
  }),
  // Cost: wide and nested within the depth limit.
  post('lists of lists, repeated without aliases', { query: costlyQuery }),
  // Batches are off.
  post('a batch of 2', [{ query: '{ hello }' }, { query: '{ hello }' }]),
  post(
    'a batch of 1,000',
    Array.from({ length: 1_000 }, () => ({ query: '{ hello }' })),
  ),
  post('an empty batch', []),
  // GET mutations.
  { name: 'GET mutation', method: 'GET', search: `?query=${encodeURIComponent('mutation { touch }')}` },
  {
    name: 'GET mutation named among queries',
    method: 'GET',
    search: `?query=${encodeURIComponent('query Q { hello } mutation M { touch }')}&operationName=M`,
  },
  // Content types a CSRF-safe endpoint refuses or cannot read.
  { name: 'text/plain', headers: { 'content-type': 'text/plain' }, body: json({ query: '{ hello }' }) },
  {
    name: 'form-urlencoded',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'query=%7B+hello+%7D',
  },
  { name: 'multipart', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' },
  { name: 'no content type', headers: { 'content-type': '' }, body: json({ query: '{ hello }' }) },
  { name: 'application/xml', headers: { 'content-type': 'application/xml' }, body: '<query/>' },
  // Malformed requests.
  { name: 'malformed JSON', body: '{"query": "{ hello }"' },
  { name: 'JSON that is not an object', body: '"{ hello }"' },
  post('query that is not a string', { query: 42 }),
  post('variables that are not an object', { query: '{ hello }', variables: '[1,2]' }),
  post('no query at all', { variables: {} }),
  post('a syntax error', { query: '{ hello ' }),
  post('an unknown operation name', { query: '{ hello }', operationName: 'Nope' }),
  // Persisted queries: a wrong hash, unknown ids, forged registrations.
  post('APQ hash that does not match the query', {
    query: '{ hello }',
    extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ node { id } }') } },
  }),
  post('APQ hash that is not hex', {
    query: '{ hello }',
    extensions: { persistedQuery: { version: 1, sha256Hash: 'not-a-hash' } },
  }),
  post('APQ with an unknown version', {
    query: '{ hello }',
    extensions: { persistedQuery: { version: 2, sha256Hash: sha256('{ hello }') } },
  }),
  post('unknown safelist id', { documentId: `sha256:${sha256('{ node { id } }')}` }, { enforcing: true }),
  post(
    'unknown persisted hash',
    { extensions: { persistedQuery: { version: 1, sha256Hash: sha256('x') } } },
    {
      enforcing: true,
    },
  ),
  post('malformed safelist id', { documentId: 'sha256:zz' }, { enforcing: true }),
  post('text query where only trusted ids run', { query: '{ node { id } }' }, { enforcing: true }),
  post(
    'a trusted id with a smuggled query text',
    { documentId: sha256(trustedQuery), query: '{ node { id } }' },
    { enforcing: true },
  ),
  // Oversized and non-UTF-8 bodies.
  post('a 3 MiB body', { query: '{ hello }', variables: { padding: 'x'.repeat(3 * 1024 * 1024) } }),
  { name: 'invalid UTF-8', body: Buffer.from([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
  {
    name: 'overlong UTF-8 encoding',
    body: Buffer.concat([Buffer.from('{"query":"{ hello }","x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
  },
  { name: 'lone surrogate bytes', body: Buffer.concat([Buffer.from('{"query":"'), Buffer.from([0xed, 0xa0, 0x80])]) },
  // JSON nested past any stack: refused before anything walks it.
  {
    name: 'variables nested 100,000 deep',
    body: `{"query":"{ hello }","variables":{"v":${deepJson(100_000)}}}`,
    expected: badRequest,
  },
  {
    name: 'extensions nested 100,000 deep',
    body: `{"query":"{ hello }","extensions":{"x":${deepJson(100_000)}}}`,
    expected: badRequest,
  },
  { name: 'a batch nested 100,000 deep', body: `[${deepJson(100_000)}]`, expected: badRequest },
  {
    name: 'an unknown field nested 100,000 deep',
    body: `{"query":"{ hello }","x":${deepJson(100_000)}}`,
    expected: badRequest,
  },
  {
    name: 'GET variables nested 2,000 deep',
    method: 'GET',
    search: `?query=${encodeURIComponent('{ hello }')}&variables=${encodeURIComponent(`{"v":${deepJson(2_000)}}`)}`,
    expected: badRequest,
  },
  post(
    'variables nested 65 deep',
    { query: '{ hello }', variables: { v: JSON.parse(deepJson(64)) } },
    { expected: badRequest },
  ),
  // Persisted queries Apollo Server would answer as internal errors.
  post('APQ hash of another query', apq({ version: 1, sha256Hash: sha256('{ node { id } }') }), {
    expected: { status: 400, code: 'PERSISTED_QUERY_HASH_MISMATCH' },
  }),
  post('APQ hash in upper case', apq({ version: 1, sha256Hash: sha256('{ hello }').toUpperCase() }), {
    expected: badRequest,
  }),
  post('APQ version 2', apq({ version: 2, sha256Hash: sha256('{ hello }') }), { expected: badRequest }),
  post('APQ version "1"', apq({ version: '1', sha256Hash: sha256('{ hello }') }), { expected: badRequest }),
  post('APQ without a version', apq({ sha256Hash: sha256('{ hello }') }), { expected: badRequest }),
  post('APQ without a hash', apq({ version: 1 }), { expected: badRequest }),
  post('APQ hash that is a number', apq({ version: 1, sha256Hash: 7 }, null), { expected: badRequest }),
  post('persistedQuery that is a string', apq(sha256('{ hello }')), { expected: badRequest }),
  post('persistedQuery that is a number', apq(1), { expected: badRequest }),
  post('persistedQuery that is true', apq(true, null), { expected: badRequest }),
  post('persistedQuery that is a list', apq([1, sha256('{ hello }')]), { expected: badRequest }),
  {
    name: 'GET APQ version 2',
    method: 'GET',
    search: `?extensions=${encodeURIComponent(JSON.stringify({ persistedQuery: { version: 2, sha256Hash: sha256('{ hello }') } }))}`,
    expected: badRequest,
  },
  post('a batch holding an APQ mismatch', [apq({ version: 1, sha256Hash: sha256('x') })], {
    expected: { status: 400, code: 'PERSISTED_QUERY_HASH_MISMATCH' },
  }),
  // Methods GraphQL is not served over.
  { name: 'PUT', method: 'PUT', body: json({ query: '{ hello }' }) },
  { name: 'DELETE', method: 'DELETE', body: json({ query: '{ hello }' }) },
  // Introspection and suggestion probes.
  post('introspection of the schema', { query: '{ __schema { types { name } } }' }),
  post('introspection of a type', { query: '{ __type(name: "Query") { fields { name } } }' }),
  post('introspection inside a fragment', {
    query: '{ ...F } fragment F on Query { __schema { queryType { name } } }',
  }),
  post('a misspelled field, fishing for suggestions', { query: '{ helo }' }),
  post('a misspelled nested field', { query: '{ node { nme } }' }),
  post('a misspelled argument', { query: '{ node(idd: 1) { id } }' }),
  // Credentials that do not verify.
  post('a bearer token that is not a JWT', { query: '{ hello }' }, { headers: { authorization: 'Bearer abc' } }),
  post('a Basic credential', { query: '{ hello }' }, { headers: { authorization: 'Basic dTpw' } }),
  ...mistypedTokens.map(({ name, token }) =>
    post(name, { query: '{ hello }' }, { headers: { authorization: `Bearer ${token}` }, expected: unauthenticated }),
  ),
];

async function send(request: Hostile, router = request.enforcing ? enforcing : open) {
  const response = await fetch(`${router.url}${request.search ?? ''}`, {
    method: request.method ?? 'POST',
    headers: {
      ...(request.method === 'GET' ? {} : { 'content-type': 'application/json' }),
      'apollo-require-preflight': 'true',
      ...request.headers,
    },
    ...(request.method === 'GET' ? {} : { body: request.body ?? '' }),
  });
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Some refusals are not JSON; the status says enough.
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** What no production answer may carry: stacks, subgraph and vendor names, SQL, addresses. */
function expectNothingLeaked(text: string) {
  expect(text).not.toMatch(/stacktrace|\bat .+\.(ts|js):\d+/);
  expect(text).not.toMatch(/serviceName|"subgraph"|\bnodes\b/);
  expect(text).not.toMatch(/apollo ?server/i);
  expect(text).not.toMatch(/\bselect\b[^"]*\bfrom\b|\brelation\b|\bviolates\b/i);
  expect(text).not.toMatch(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|localhost:\d+/);
}

/** Each case's answer from a cold cache, for the same case against a warm one. */
const coldAnswers = new Map<Hostile, [number, unknown]>();

/**
 * The same operation as `request` asks for (document, name, variables),
 * sent as an honest client would, so a response to it may be cached under
 * the key the hostile request would look up; null where the request names
 * no single operation.
 */
function honestFormOf(request: Hostile): Hostile | null {
  let params: Record<string, unknown>;
  if (request.method === 'GET') {
    const search = new URLSearchParams(request.search);
    let variables: unknown;
    try {
      variables = JSON.parse(search.get('variables') ?? 'null');
    } catch {
      return null;
    }
    params = { query: search.get('query'), operationName: search.get('operationName'), variables };
  } else if (request.method === undefined || request.method === 'POST') {
    try {
      params = JSON.parse(String(request.body));
    } catch {
      return null;
    }
  } else return null;
  if (typeof params !== 'object' || params === null || Array.isArray(params) || typeof params.query !== 'string')
    return null;
  const { query, operationName, variables } = params;
  // Variables nested past any stack cannot be sent at all, honestly or not.
  if (nestsDeeperThan(variables, maxRequestJsonDepth)) return null;
  if (request.method === 'GET') {
    const search = new URLSearchParams({ query });
    if (typeof operationName === 'string') search.set('operationName', operationName);
    if (variables !== null && variables !== undefined) search.set('variables', JSON.stringify(variables));
    return {
      name: `honest ${request.name}`,
      method: 'GET',
      search: `?${search.toString()}`,
      enforcing: request.enforcing,
    };
  }
  return post(`honest ${request.name}`, { query, operationName, variables }, { enforcing: request.enforcing });
}

/** The checks every answer to the corpus passes, from a cold cache or a warm one. */
function expectRefused(request: Hostile, response: Awaited<ReturnType<typeof send>>) {
  const codes = (response.body?.errors ?? []).map((error: any) => error.extensions?.code);
  const refused = response.status >= 400 && response.status < 500;
  const coded = codes.length > 0 && codes.every((code: unknown) => typeof code === 'string');
  expect(refused || (coded && response.body?.data == null), `${response.status} ${response.text.slice(0, 200)}`).toBe(
    true,
  );
  expect(response.status).toBeLessThan(500);
  expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
  if (request.expected) {
    expect([response.status, codes[0]], response.text).toEqual([request.expected.status, request.expected.code]);
  }
  // Production answers carry no stack, no measured value (a limit's refusal names the limit only) and no schema hints.
  expectNothingLeaked(response.text);
  expect(response.text).not.toMatch(/Did you mean/);
  expect(response.text).not.toMatch(/exceeded, found|"found"|more tha[nt] \d+ tokens/);
  return codes;
}

describe('a hostile request', () => {
  it('corpus has at least 100 requests', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(100);
  });

  it.each(corpus)('$name: refused with a 4xx or a coded error', async (request) => {
    const response = await send(request);
    const codes = expectRefused(request, response);
    coldAnswers.set(request, [response.status, codes[0]]);
  });

  it('never reached the subgraph', () => {
    expect(subgraph.requests).toEqual([]);
  });

  it("was logged as the client's mistake, never as a fault", () => {
    const faults = logLines.filter((line) => line.level >= 50);
    expect(faults.map((line) => line.msg)).toEqual([]);
  });
});

describe('a hostile request against a warm cache', () => {
  /** Cases whose operation, sent honestly, was then served from the cache. */
  let warmed = 0;

  it.each(corpus)('$name: answered as from a cold cache, never from the cache', async (request) => {
    const honest = honestFormOf(request);
    if (honest) {
      await send(honest);
      if ((await send(honest)).headers.get('x-cache') === 'HIT') warmed++;
    }
    const response = await send(request);
    const codes = expectRefused(request, response);
    expect(response.headers.get('x-cache')).not.toBe('HIT');
    expect([response.status, codes[0]], response.text).toEqual(coldAnswers.get(request));
  });

  it('had a cached response to refuse for many of the cases', () => {
    // `{ hello }` in every content type, with every credential that does not verify, and more.
    expect(warmed).toBeGreaterThanOrEqual(10);
  });

  it("was logged as the client's mistake, never as a fault", () => {
    const faults = logLines.filter((line) => line.level >= 50);
    expect(faults.map((line) => line.msg)).toEqual([]);
  });
});

describe('in production, an error from a subgraph', () => {
  it('passes a client error without naming the subgraph', async () => {
    const response = await send(post('client error', { query: '{ badInput }' }));
    expect(response.body.errors).toEqual([
      { message: '`sku` must not be empty.', path: ['badInput'], extensions: { code: 'BAD_USER_INPUT' } },
    ]);
    expectNothingLeaked(response.text);
  });

  it('masks a failure, with no SQL, address or subgraph name', async () => {
    const response = await send(post('crash', { query: '{ hello crash }' }));
    expect(response.body.data).toEqual({ hello: 'hi', crash: null });
    expect(response.body.errors).toEqual([
      { message: 'Internal server error', path: ['crash'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
    expectNothingLeaked(response.text);
  });

  it('says a subgraph is unavailable without naming it', async () => {
    const unreachable = await startTestRouter(supergraphPath, {
      nodeEnv: 'production',
      // Nothing listens on port 1: the connection is refused at once.
      subgraphUrls: { NODES: 'http://127.0.0.1:1/graphql' },
      subgraphPolicy: { all: { retries: 0 } },
    });
    try {
      const response = await send(post('unreachable', { query: '{ hello }' }), unreachable);
      expect(response.status).toBeLessThan(500);
      expect(response.body.errors.map((error: any) => error.extensions.code)).toEqual(['SUBGRAPH_UNAVAILABLE']);
      expectNothingLeaked(response.text);
    } finally {
      await unreachable.stop();
    }
  });

  it('refuses introspection in its own words', async () => {
    const response = await send(post('introspection', { query: '{ __schema { queryType { name } } }' }));
    expect(response.body.errors[0]).toMatchObject({
      message: 'Introspection is disabled on this server.',
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
  });
});

describe('the response cache', () => {
  const query = '{ cached }';
  const hash = sha256(query);
  const getSearch = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`;
  const extensions = (persistedQuery: unknown) => JSON.stringify({ persistedQuery });

  it('never answers what Apollo Server would refuse, once the response is cached', async () => {
    // Registered as an APQ and cached, by POST and by GET.
    expect((await send(post('register', apq({ version: 1, sha256Hash: hash }, query)))).status).toBe(200);
    const hit = await send(post('by hash', apq({ version: 1, sha256Hash: hash }, null)));
    expect([hit.status, hit.headers.get('x-cache')]).toEqual([200, 'HIT']);
    const getHit = await send({ name: 'GET', method: 'GET', search: getSearch({ query }) });
    expect(getHit.status).toBe(200);
    expect((await send({ name: 'GET', method: 'GET', search: getSearch({ query }) })).headers.get('x-cache')).toBe(
      'HIT',
    );
    const before = subgraph.requests.length;

    const refusals: Array<[Hostile, number]> = [
      [post('version 2', apq({ version: 2, sha256Hash: hash }, null)), 400],
      [post('version 2 with the text', apq({ version: 2, sha256Hash: hash }, query)), 400],
      [post('a persistedQuery string', apq(hash, query)), 400],
      [post('a mismatched hash', apq({ version: 1, sha256Hash: sha256('{ hello }') }, query)), 400],
      [post('the id of a trusted document, where none are', { documentId: `sha256:${hash}` }), 400],
      [
        {
          name: 'GET version 2',
          method: 'GET',
          search: getSearch({ extensions: extensions({ version: 2, sha256Hash: hash }) }),
        },
        400,
      ],
      [
        {
          name: 'GET with the query twice',
          method: 'GET',
          search: `${getSearch({ query })}&query=${encodeURIComponent(query)}`,
        },
        400,
      ],
      [{ name: 'GET variables that are null', method: 'GET', search: getSearch({ query, variables: 'null' }) }, 400],
      [
        {
          name: 'GET with an XML content type',
          method: 'GET',
          search: getSearch({ query }),
          headers: { 'content-type': 'application/xml' },
        },
        415,
      ],
      [
        {
          name: 'GET with an empty preflight header',
          method: 'GET',
          search: getSearch({ query }),
          headers: { 'apollo-require-preflight': '' },
        },
        400,
      ],
      [
        {
          name: 'GET with a simple content type',
          method: 'GET',
          search: getSearch({ query }),
          headers: { 'content-type': 'text/plain', 'apollo-require-preflight': '' },
        },
        400,
      ],
    ];
    for (const [request, status] of refusals) {
      const response = await send(request);
      expect([request.name, response.status, response.headers.get('x-cache')], response.text).toEqual([
        request.name,
        status,
        null,
      ]);
      expect(response.body?.errors?.[0]?.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
    }
    expect(subgraph.requests.length).toBe(before);
  });
});

describe('rate limits hold on every path', () => {
  let limited: RunningRouter;
  let guarded: RunningRouter;

  beforeAll(async () => {
    limited = await startTestRouter(supergraphPath, {
      nodeEnv: 'production',
      rateLimit: {
        perCaller: { points: 100, windowSeconds: 60 },
        operations: { Search: { points: 3, windowSeconds: 60 } },
        trustedProxies: 0,
      },
    });
    guarded = await startTestRouter(supergraphPath, {
      nodeEnv: 'production',
      rateLimit: { perCaller: { points: 3, windowSeconds: 60 }, operations: {}, trustedProxies: 0 },
    });
  });

  afterAll(async () => {
    await limited?.stop();
    await guarded?.stop();
  });

  const bearer = async (user: string) => ({ authorization: `Bearer ${await signTestToken(testJwtSecret, user)}` });
  const statuses = async (times: number, request: () => Promise<Hostile>, router: RunningRouter) => {
    const seen: Array<[number, string | null, unknown]> = [];
    for (let index = 0; index < times; index++) {
      const response = await send(await request(), router);
      seen.push([response.status, response.headers.get('x-cache'), response.body?.errors?.[0]?.extensions?.code]);
    }
    return seen;
  };

  it("count cache hits against the operation's allowance, named or not", async () => {
    const before = subgraph.requests.length;
    const named = await bearer('user-named');
    expect(
      await statuses(
        6,
        async () => post('Search', { query: 'query Search { cached }', operationName: 'Search' }, { headers: named }),
        limited,
      ),
    ).toEqual([
      [200, 'MISS', undefined],
      [200, 'HIT', undefined],
      [200, 'HIT', undefined],
      [429, null, 'RATE_LIMITED'],
      [429, null, 'RATE_LIMITED'],
      [429, null, 'RATE_LIMITED'],
    ]);
    // The document's only operation is Search, whether or not the request says so.
    const unnamed = await bearer('user-unnamed');
    expect(
      (
        await statuses(
          5,
          async () => post('Search', { query: 'query Search { cached }' }, { headers: unnamed }),
          limited,
        )
      ).map(([status]) => status),
    ).toEqual([200, 200, 200, 429, 429]);
    expect(subgraph.requests.length - before).toBe(2);
  });

  it("count APQ hits against the operation's allowance, cached or not", async () => {
    for (const [user, query] of [
      ['user-apq-cached', 'query Search { cached }'],
      ['user-apq', 'query Search { hello }'],
    ] as const) {
      const headers = await bearer(user);
      const hash = sha256(query);
      expect(
        (await send(post('register', apq({ version: 1, sha256Hash: hash }, query), { headers }), limited)).status,
      ).toBe(200);
      const byHash = await statuses(
        4,
        async () => post('by hash', apq({ version: 1, sha256Hash: hash }, null), { headers }),
        limited,
      );
      expect(
        byHash.map(([status, , code]) => [status, code]),
        user,
      ).toEqual([
        [200, undefined],
        [200, undefined],
        [429, 'RATE_LIMITED'],
        [429, 'RATE_LIMITED'],
      ]);
    }
  });

  it("count a token that does not verify against the address's allowance", async () => {
    const before = subgraph.requests.length;
    const forged = {
      authorization: `Bearer ${await signTestToken('not-the-secret-the-router-trusts-0123456789', 'user-1')}`,
    };
    expect(
      (await statuses(5, async () => post('guess', { query: '{ hello }' }, { headers: forged }), guarded)).map(
        ([status, , code]) => [status, code],
      ),
    ).toEqual([
      [401, 'UNAUTHENTICATED'],
      [401, 'UNAUTHENTICATED'],
      [401, 'UNAUTHENTICATED'],
      [429, 'RATE_LIMITED'],
      [429, 'RATE_LIMITED'],
    ]);
    // The address has spent its allowance, anonymous or not.
    expect((await send(post('anonymous', { query: '{ hello }' }), guarded)).status).toBe(429);
    expect(subgraph.requests.length).toBe(before);
  });
});

describe('the limits still admit honest requests', () => {
  it('at the edge of every limit', async () => {
    const tenDirectives = Array.from({ length: 5 }, (_, i) => `h${i}: hello @include(if: true) @skip(if: false)`);
    for (const query of [nested(7), aliases(15), `{ ${tenDirectives.join(' ')} }`]) {
      const response = await send(post('honest', { query }));
      expect(response.status, response.text).toBe(200);
      expect(response.body.errors).toBeUndefined();
    }
  });

  it('a trusted operation', async () => {
    const response = await send(post('trusted', { documentId: sha256(trustedQuery) }, { enforcing: true }));
    expect(response.body).toEqual({ data: { hello: 'hi' } });
  });

  it('a trusted operation over the cost limit, which reviewed operations are exempt from', async () => {
    const response = await send(post('trusted and costly', { documentId: sha256(costlyQuery) }, { enforcing: true }));
    expect(response.status, response.text).toBe(200);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.node.children).toEqual([]);
  });
});
