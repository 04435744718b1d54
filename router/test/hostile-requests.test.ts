import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { sha256 } from '../../test/support/persisted-queries.ts';
import { startTestRouter } from '../../test/support/shop-graph.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { defaultQueryLimits } from '../src/plugins/query-limits/index.ts';
import type { RunningRouter } from '../src/router.ts';

/**
 * A corpus of hostile requests against a production router with its
 * default limits: every one is refused with a 4xx or a coded error, none
 * leaks a limit, a stack or a schema suggestion, and not one reaches the
 * subgraph (it counts what it receives).
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

beforeAll(async () => {
  const node = (): object => ({ id: '1', name: 'n', child: node, children: () => [] });
  subgraph = await startTestSubgraph('nodes', sdl, {
    Query: { node, hello: () => 'hi' },
    Mutation: { touch: () => 'touched' },
  });
  const outcome = composeSupergraph([{ name: 'nodes', url: subgraph.url, sdl }]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'hostile-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  const manifestPath = join(workdir, 'manifest.json');
  await writeFile(supergraphPath, outcome.supergraphSdl);
  await writeFile(
    manifestPath,
    JSON.stringify({ [sha256(trustedQuery)]: trustedQuery, [sha256(costlyQuery)]: costlyQuery }),
  );
  // Production defaults: no test-only relaxations.
  const production = { nodeEnv: 'production' as const, limits: defaultQueryLimits };
  open = await startTestRouter(supergraphPath, production);
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
  method?: 'GET' | 'POST';
  /** The query string of a GET. */
  search?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const json = (value: unknown) => JSON.stringify(value);
const post = (name: string, payload: unknown, extra: Partial<Hostile> = {}): Hostile => ({
  name,
  body: json(payload),
  ...extra,
});
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
];

async function send(request: Hostile) {
  const router = request.enforcing ? enforcing : open;
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
  return { status: response.status, text, body };
}

describe('a hostile request', () => {
  it('corpus has at least 100 requests', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(100);
  });

  it.each(corpus)('$name: refused with a 4xx or a coded error', async (request) => {
    const response = await send(request);
    const codes = (response.body?.errors ?? []).map((error: any) => error.extensions?.code);
    const refused = response.status >= 400 && response.status < 500;
    const coded = codes.length > 0 && codes.every((code: unknown) => typeof code === 'string');
    expect(refused || (coded && response.body?.data == null), `${response.status} ${response.text.slice(0, 200)}`).toBe(
      true,
    );
    expect(response.status).toBeLessThan(500);
    // Production answers carry no stack, no measured value (a limit's refusal names the limit only) and no schema hints.
    expect(response.text).not.toMatch(/stacktrace|\bat .+\.(ts|js):\d+/);
    expect(response.text).not.toMatch(/Did you mean/);
    expect(response.text).not.toMatch(/exceeded, found|"found"|more tha[nt] \d+ tokens/);
  });

  it('never reached the subgraph', () => {
    expect(subgraph.requests).toEqual([]);
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
