import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { pino } from 'pino';
import { sha256 } from '../../test/support/persisted-queries.ts';
import { startTestRouter } from '../../test/support/shop-graph.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import { loadTrustedDocuments, TrustedDocuments } from '../src/plugins/trusted-documents/index.ts';
import type { RunningRouter } from '../src/router.ts';
import type { TrustedDocumentsMode } from '../src/plugins/trusted-documents/index.ts';

/** The safelist: manifest operations by hash alone, and in enforce mode nothing else reaches a subgraph. */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    greeting(name: String!): String!
    secret: String!
  }
`;

const trusted = 'query Greeting($name: String!) { greeting(name: $name) }';
const trustedHash = sha256(trusted);
const untrusted = '{ secret }';

let subgraph: TestSubgraph;
let workdir: string;
let supergraphPath: string;
let manifestPath: string;
let router: RunningRouter | null = null;
let logLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  subgraph = await startTestSubgraph('greetings', sdl, {
    Query: { greeting: (_: unknown, { name }: { name: string }) => `Hello, ${name}`, secret: () => 'classified' },
  });
  const outcome = composeSupergraph([{ name: 'greetings', url: subgraph.url, sdl }]);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  workdir = await mkdtemp(join(tmpdir(), 'trusted-documents-'));
  supergraphPath = join(workdir, 'supergraph.graphql');
  manifestPath = join(workdir, 'persisted-documents.json');
  await writeFile(supergraphPath, outcome.supergraphSdl);
  await writeFile(manifestPath, JSON.stringify({ [trustedHash]: trusted }));
});

afterEach(async () => {
  await router?.stop();
  router = null;
  subgraph.requests.length = 0;
  logLines = [];
});

afterAll(async () => {
  await subgraph?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

async function start(mode: TrustedDocumentsMode) {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  router = await startTestRouter(supergraphPath, { trustedDocuments: { mode, manifestPath } }, logger);
  return router;
}

async function post(body: unknown) {
  const response = await fetch(router!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function get(params: Record<string, string>) {
  const response = await fetch(`${router!.url}?${new URLSearchParams(params).toString()}`, {
    headers: { 'apollo-require-preflight': 'true' },
  });
  return { status: response.status, body: (await response.json()) as any };
}

const byHash = (hash: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });

describe.each(['allow', 'enforce'] as const)('in %s mode, a manifest operation', (mode) => {
  it('runs by its hash alone: APQ-style, documentId, and GET', async () => {
    await start(mode);
    const variables = { name: 'Ada' };
    const expected = { data: { greeting: 'Hello, Ada' } };
    expect((await post({ ...byHash(trustedHash), variables })).body).toEqual(expected);
    expect((await post({ documentId: `sha256:${trustedHash}`, variables })).body).toEqual(expected);
    expect(
      (await get({ extensions: JSON.stringify(byHash(trustedHash).extensions), variables: JSON.stringify(variables) }))
        .body,
    ).toEqual(expected);
    // And with its full text.
    expect((await post({ query: trusted, variables })).body).toEqual(expected);
  });
});

describe('enforce mode', () => {
  it.each([
    { case: 'a document not in the manifest', body: { query: untrusted }, code: 'QUERY_NOT_IN_SAFELIST' },
    { case: 'an unknown hash', body: byHash(sha256(untrusted)), code: 'PERSISTED_QUERY_NOT_IN_LIST' },
    {
      case: 'an APQ registration of a new document',
      body: { query: untrusted, ...byHash(sha256(untrusted)) },
      code: 'QUERY_NOT_IN_SAFELIST',
    },
    { case: 'an unknown documentId', body: { documentId: 'a'.repeat(64) }, code: 'PERSISTED_QUERY_NOT_IN_LIST' },
    { case: 'a malformed documentId', body: { documentId: 'Greeting' }, code: 'PERSISTED_QUERY_NOT_IN_LIST' },
    {
      case: 'a batch with one unlisted operation',
      body: [{ ...byHash(trustedHash), variables: { name: 'x' } }, { query: untrusted }],
      code: 'QUERY_NOT_IN_SAFELIST',
    },
  ])('refuses $case with a coded 400, and no subgraph is called', async ({ body, code }) => {
    await start('enforce');
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(response.body.errors[0].extensions.code).toBe(code);
    expect(JSON.stringify(response.body)).not.toContain('classified');
    expect(subgraph.requests).toHaveLength(0);
  });

  it('refuses an unlisted document sent by GET', async () => {
    await start('enforce');
    const response = await get({ query: untrusted });
    expect(response.status).toBe(400);
    expect(response.body.errors[0].extensions.code).toBe('QUERY_NOT_IN_SAFELIST');
    expect(subgraph.requests).toHaveLength(0);
  });
});

describe('allow mode', () => {
  it('runs an unlisted document and logs it once', async () => {
    await start('allow');
    expect((await post({ query: untrusted })).body).toEqual({ data: { secret: 'classified' } });
    expect((await post({ query: untrusted })).body).toEqual({ data: { secret: 'classified' } });
    const logged = logLines.filter((line) => line.msg === 'operation is not in the trusted documents');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.documentHash).toBe(sha256(untrusted));
  });
});

describe('off mode', () => {
  it('does not know manifest hashes', async () => {
    await start('off');
    const response = await post({ ...byHash(trustedHash), variables: { name: 'Ada' } });
    expect(response.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });
});

describe('a manifest', () => {
  it.each([
    { case: 'a hash that is not its document', content: { [sha256('{ a }')]: '{ b }' }, error: /is not the sha256/ },
    { case: 'a document that is not a string', content: { [trustedHash]: 42 }, error: /is not a string/ },
    { case: 'not an object', content: [trusted], error: /expected an object/ },
  ])('with $case is refused at load, naming the problem', async ({ content, error }) => {
    const path = join(workdir, 'bad.json');
    await writeFile(path, JSON.stringify(content));
    await expect(loadTrustedDocuments(path)).rejects.toThrow(error);
  });
});

describe('a trusted operation sent by its hash', () => {
  const documents = () =>
    new TrustedDocuments({
      mode: 'allow',
      manifest: new Map([[trustedHash, trusted]]),
      logger: pino({ level: 'silent' }),
    });
  const request = (fields: Partial<HTTPGraphQLRequest>): HTTPGraphQLRequest => ({
    method: 'POST',
    headers: new HeaderMap([['content-type', 'application/json']]),
    search: '',
    body: {},
    ...fields,
  });

  // With both the text and its hash, Apollo Server would take each request for an APQ
  // registration and write the document to the persisted-query store every time.
  it('reaches Apollo Server as its text alone, other extensions kept', () => {
    const outcome = documents().check(
      request({
        body: {
          ...byHash(trustedHash),
          variables: { name: 'Ada' },
          extensions: { ...byHash(trustedHash).extensions, tag: 'x' },
        },
      }),
    );
    expect(outcome).toMatchObject({ status: 'pass', trusted: true });
    expect((outcome as { request: HTTPGraphQLRequest }).request.body).toEqual({
      query: trusted,
      variables: { name: 'Ada' },
      extensions: { tag: 'x' },
    });
  });

  it('by GET too', () => {
    const search = `?${new URLSearchParams({ extensions: JSON.stringify(byHash(trustedHash).extensions) }).toString()}`;
    const outcome = documents().check(request({ method: 'GET', search, body: undefined }));
    const params = new URLSearchParams((outcome as { request: HTTPGraphQLRequest }).request.search);
    expect(params.get('query')).toBe(trusted);
    expect(params.has('extensions')).toBe(false);
  });
});
