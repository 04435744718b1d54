import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import { startTestRouter } from '../../test/support/shop-graph.ts';
import { startTestSubgraph, type TestSubgraph } from '../../test/support/test-subgraph.ts';
import { schemaFileOf, subgraphs } from '../../subgraphs/registry.ts';
import { costModelFromSupergraph, fragmentsOf, operationCost } from '../../platform/src/graphql/demand-control.ts';
import { defaultQueryLimits, QueryLimitCode } from '../src/plugins/query-limits/index.ts';
import type { RunningRouter } from '../src/router.ts';

/**
 * The query limits on the schema the shop ships, with their defaults: what
 * the shop's own operations need passes, what abuses the graph is refused
 * with the code of the limit it broke, and the cost limit sees variables as
 * it sees literals. The subgraphs are stand-ins built from the real
 * subgraph schemas, answering empty pages, so a test can tell whether the
 * router let an operation through (a subgraph was called) or refused it.
 */

const emptyPage = { edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: false }, totalCount: 0 };
const resolvers: Record<string, Record<string, Record<string, () => unknown>>> = {
  accounts: { Query: { viewer: () => null, user: () => null } },
  products: {
    Query: { products: () => emptyPage, productsById: () => [], categories: () => [], product: () => null },
  },
  reviews: { Query: { review: () => null } },
};

let stubs: TestSubgraph[] = [];
let supergraphSdl: string;
let workdir: string;
let development: RunningRouter;
let production: RunningRouter;

beforeAll(async () => {
  const sources = await Promise.all(
    subgraphs.map(async ({ name }) => {
      const sdl = readFileSync(schemaFileOf(name), 'utf8');
      const stub = await startTestSubgraph(name, sdl, resolvers[name] ?? {});
      stubs.push(stub);
      return { name, url: stub.url, sdl };
    }),
  );
  const outcome = composeSupergraph(sources);
  if (!outcome.ok) throw new Error(outcome.errors.join('\n'));
  supergraphSdl = outcome.supergraphSdl;
  workdir = await mkdtemp(join(tmpdir(), 'query-limits-'));
  const supergraphPath = join(workdir, 'supergraph.graphql');
  await writeFile(supergraphPath, supergraphSdl);
  // The shipped defaults, not the test helper's relaxed ones; no trusted documents, so no cost exemption.
  development = await startTestRouter(supergraphPath, { limits: defaultQueryLimits });
  production = await startTestRouter(supergraphPath, { limits: defaultQueryLimits, nodeEnv: 'production' });
});

afterAll(async () => {
  await development?.stop();
  await production?.stop();
  await Promise.all(stubs.map((stub) => stub.stop()));
  stubs = [];
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  /** Requests the subgraphs received while answering. */
  fetches: number;
}

async function send(
  router: RunningRouter,
  query: string,
  variables?: Record<string, unknown>,
  accept = 'application/graphql-response+json',
): Promise<Answer> {
  const before = stubs.reduce((total, stub) => total + stub.requests.length, 0);
  const response = await fetch(router.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Answer['body'];
  const after = stubs.reduce((total, stub) => total + stub.requests.length, 0);
  return { status: response.status, body, fetches: after - before };
}

const limitCodes: ReadonlySet<unknown> = new Set(Object.values(QueryLimitCode));
const codesOf = (answer: Answer) => (answer.body.errors ?? []).map((error) => error.extensions?.code);

/** Passed every limit and validation, and reached the subgraphs. */
function expectAdmitted(answer: Answer) {
  const refusals = (answer.body.errors ?? []).filter(
    (error) => limitCodes.has(error.extensions?.code) || error.extensions?.code === 'GRAPHQL_VALIDATION_FAILED',
  );
  expect(refusals, JSON.stringify(answer.body)).toEqual([]);
  expect(answer.fetches).toBeGreaterThan(0);
}

/** Refused with this code and HTTP 400, before any subgraph was called. */
function expectRefused(answer: Answer, code: QueryLimitCode) {
  expect(codesOf(answer), JSON.stringify(answer.body)).toEqual([code]);
  expect(answer.status).toBe(400);
  expect(answer.fetches).toBe(0);
}

/** The README's quick-start query: the first GraphQL block of README.md. */
const readmeQuery = /```graphql\n([\s\S]*?)```/.exec(readFileSync('README.md', 'utf8'))![1]!;
const manifest = JSON.parse(readFileSync('operations/__generated__/persisted-documents.json', 'utf8')) as Record<
  string,
  string
>;
/** Enough for every shipped operation's required variables; extra ones are ignored. */
const shippedVariables = {
  id: '1',
  productIds: ['1', '2'],
  items: [{ productId: '1', quantity: 1 }],
  idempotencyKey: 'limits-test',
  productId: '1',
  rating: 5,
  body: 'Fine.',
  name: 'Ada',
};

describe('with the default limits', () => {
  it('admits the README quick-start query', async () => {
    expect(readmeQuery).toContain('query ProductPage');
    for (const router of [development, production]) expectAdmitted(await send(router, readmeQuery));
  });

  it.each(
    Object.values(manifest).map((document) => ({ name: /(?:query|mutation) (\w+)/.exec(document)![1], document })),
  )('admits the shipped operation $name, sent as text (no trust, so no cost exemption)', async ({ document }) => {
    expectAdmitted(await send(production, document, shippedVariables));
  });

  it('refuses a query nested one real level deeper than allowed, and admits the one at the limit', async () => {
    // product → reviews → author → reviews → product → reviews → author → name: 8 levels past the wrappers.
    const nested = (leaf: string) =>
      `{ product(id: "1") { reviews(first: 2) { edges { node { author { reviews(first: 2) { edges { node { product { reviews(first: 2) { edges { node { ${leaf} } } } } } } } } } } } } }`;
    const deep = await send(development, nested('author { name }'));
    expectRefused(deep, QueryLimitCode.Depth);
    expect(deep.body.errors![0]!.message).toBe('Query depth limit of 7 exceeded, found 8.');
    expectAdmitted(await send(development, nested('rating')));
  });

  it('refuses a deep chain the wrappers do not excuse, at any depth', async () => {
    for (const hops of [4, 10, 40]) {
      const query = `{ product(id: "1") { ${'reviews { edges { node { product { '.repeat(hops)}id${' } } } }'.repeat(hops)} } }`;
      expectRefused(await send(production, query), QueryLimitCode.Depth);
    }
  });
});

describe('cost, computed with variables', () => {
  const literal = (n: number) =>
    `{ products(first: ${n}) { edges { node { name reviews(first: ${n}) { edges { node { rating body author { name } } } } } } } }`;
  const variable =
    'query Cards($n: Int) { products(first: $n) { edges { node { name reviews(first: $n) { edges { node { rating body author { name } } } } } } } }';

  it('refuses the variable form exactly when it refuses the literal form, at the same cost', async () => {
    for (const n of [1, 10, 30, 40, 100]) {
      const byLiteral = await send(development, literal(n));
      const byVariable = await send(development, variable, { n });
      const refused = (answer: Answer) => codesOf(answer).includes(QueryLimitCode.Cost);
      expect(refused(byVariable), `n = ${n}`).toBe(refused(byLiteral));
      if (refused(byLiteral)) {
        expect(byVariable.body.errors).toEqual(byLiteral.body.errors);
        expectRefused(byVariable, QueryLimitCode.Cost);
      } else {
        expectAdmitted(byVariable);
      }
    }
    // Both ends happen: 100 × 100 reviews is refused, 10 × 10 admitted.
    expectRefused(await send(production, variable, { n: 100 }), QueryLimitCode.Cost);
    expectAdmitted(await send(production, variable, { n: 10 }));
  });

  it('sizes a list by the variable, its default in the operation, then the argument default in the schema', () => {
    const schemaCost = (query: string, variables?: Record<string, unknown>) => {
      const document = parse(query);
      const operation = document.definitions.find((definition) => definition.kind === 'OperationDefinition')!;
      // The API schema's fields are those of the supergraph; the test reads it from the router's own build.
      return operationCost({
        schema: apiSchema(),
        model: costModelFromSupergraph(supergraphSdl),
        operation,
        fragments: fragmentsOf(document),
        variables,
      });
    };
    const cards = 'query Q($n: Int = 5) { products(first: $n) { totalCount edges { node { name } } } }';
    // products 1 + totalCount 1 (@cost) + n edges × (edge 1 + node 1).
    expect(schemaCost(cards, { n: 50 })).toBe(2 + 50 * 2);
    expect(schemaCost(cards)).toBe(2 + 5 * 2);
    expect(schemaCost(cards, { n: null })).toBe(2 + 20 * 2);
    expect(schemaCost('{ products { edges { node { name } } } }')).toBe(1 + 20 * 2);
    // Skipped fields cost nothing, whether the condition is literal or a variable.
    const skippable = 'query S($skip: Boolean!) { products(first: 50) @skip(if: $skip) { edges { node { name } } } }';
    expect(schemaCost(skippable, { skip: true })).toBe(0);
    expect(schemaCost(skippable, { skip: false })).toBe(1 + 50 * 2);
  });
});

describe('the cost model', () => {
  const supergraphWith = (link: string, field: string) => `
    schema ${link} { query: Query }
    type Query { ${field} }
    type Item { id: ID! }
  `;

  it.each([
    ['imported', '@link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"])', '@listSize'],
    [
      'imported under another name',
      '@link(url: "https://specs.apollo.dev/cost/v0.1", import: [{ name: "@listSize", as: "@size" }])',
      '@size',
    ],
    ['namespaced', '@link(url: "https://specs.apollo.dev/cost/v0.1")', '@cost__listSize'],
    ['namespaced with as', '@link(url: "https://specs.apollo.dev/cost/v0.1", as: "demand")', '@demand__listSize'],
  ])('reads @listSize %s', (_, link, directive) => {
    const model = costModelFromSupergraph(
      supergraphWith(link, `items(first: Int): [Item!]! ${directive}(slicingArguments: ["first"], assumedSize: 7)`),
    );
    expect(model.fields.get('Query.items')?.listSize).toEqual({
      slicingArguments: ['first'],
      assumedSize: 7,
      sizedFields: new Set(),
    });
  });

  it("ignores a directive of the same name that is not the cost spec's", () => {
    const model = costModelFromSupergraph(
      supergraphWith(
        '@link(url: "https://example.com/other/v1.0", import: ["@listSize"])',
        'items: [Item!]! @listSize(assumedSize: 7)',
      ),
    );
    expect(model.fields.size).toBe(0);
  });
});

describe('each limit answers with its own code', () => {
  const aliases = (field: string, count: number) =>
    `{ ${Array.from({ length: count }, (_, index) => `a${index}: ${field}`).join(' ')} }`;
  const cases: Array<{ code: QueryLimitCode; query: string; limit: number; found: number }> = [
    {
      code: QueryLimitCode.Depth,
      query: `{ product(id: "1") { ${'reviews { edges { node { product { '.repeat(3)}id${' } } } }'.repeat(3)} } }`,
      limit: 7,
      found: 8,
    },
    { code: QueryLimitCode.Aliases, query: aliases('categories { id }', 16), limit: 15, found: 16 },
    { code: QueryLimitCode.Aliases, query: aliases('__typename', 20), limit: 15, found: 20 },
    {
      code: QueryLimitCode.Directives,
      query: `{ categories { ${Array.from({ length: 11 }, (_, index) => `f${index}: id @include(if: true)`).join(' ')} } }`,
      limit: 10,
      found: 11,
    },
    { code: QueryLimitCode.Tokens, query: `{ categories { ${'id '.repeat(1_200)}} }`, limit: 1000, found: 1_205 },
    {
      code: QueryLimitCode.Cost,
      query: '{ products(first: 100) { edges { node { reviews(first: 100) { edges { node { rating } } } } } } }',
      limit: 5000,
      // products 1 + 100 × (edge 1 + node 1 + reviews 1 + 100 × (edge 1 + node 1)).
      found: 1 + 100 * (3 + 100 * 2),
    },
  ];

  it.each(cases)('$code: in development, the limit and the value found', async ({ code, query, limit, found }) => {
    const answer = await send(development, query);
    expectRefused(answer, code);
    expect(answer.body.errors![0]!.message).toMatch(new RegExp(`limit of ${limit} exceeded, found ${found}\\.$`));
    expect(answer.body.errors![0]!.extensions).toEqual({ code, limit, found });
  });

  it.each(cases)('$code: in production, the limit only', async ({ code, query, limit, found }) => {
    const answer = await send(production, query);
    expectRefused(answer, code);
    expect(answer.body.errors![0]!.message).toMatch(new RegExp(`limit of ${limit} exceeded\\.$`));
    expect(answer.body.errors![0]!.extensions).toEqual({ code, limit });
    expect(answer.body.errors![0]!.message).not.toContain(String(found));
  });

  it('answers 400 to a client that accepts only application/json too', async () => {
    const answer = await send(production, aliases('__typename', 16), undefined, 'application/json');
    expectRefused(answer, QueryLimitCode.Aliases);
  });

  it('admits __typename aliases up to the limit', async () => {
    expectAdmitted(await send(production, `{ categories { id } ${aliases('__typename', 14).slice(1, -1)} }`));
  });
});

describe('suggestions', () => {
  const misspelledEnum = '{ products(orderBy: PRICE_DES) { totalCount } }';
  const misspelledVariable = 'query Q($order: ProductOrder) { products(orderBy: $order) { totalCount } }';

  it('development suggests the enum value meant', async () => {
    const inQuery = await send(development, misspelledEnum);
    expect(inQuery.body.errors![0]!.message).toContain('Did you mean the enum value "PRICE_DESC"');
    const inVariable = await send(development, misspelledVariable, { order: 'PRICE_DES' });
    expect(inVariable.body.errors![0]!.message).toContain('Did you mean the enum value "PRICE_DESC"');
  });

  it('production suggests nothing, for enum values, fields, arguments or types', async () => {
    // Each probe, and the name a suggestion would give away.
    const probes: Array<[string, Record<string, unknown> | undefined, string]> = [
      [misspelledEnum, undefined, 'PRICE_DESC'],
      [misspelledVariable, { order: 'PRICE_DES' }, 'PRICE_DESC'],
      ['{ categories { nme } }', undefined, '\\"name\\"'],
      ['{ products(frst: 1) { totalCount } }', undefined, '\\"first\\"'],
      ['query Q($f: ProductFiltr) { products(filter: $f) { totalCount } }', undefined, '\\"ProductFilter\\"'],
      ['{ products(filter: { catgory: "audio" }) { totalCount } }', undefined, '\\"category\\"'],
    ];
    for (const [query, variables, suggestion] of probes) {
      const answer = await send(production, query, variables);
      expect(answer.body.errors?.length, query).toBeGreaterThan(0);
      const text = JSON.stringify(answer.body);
      expect(text, query).not.toContain('Did you mean');
      expect(text, query).not.toContain(suggestion);
      expect(answer.fetches).toBe(0);
    }
  });
});

/** The API schema the router serves, built from the supergraph as the gateway builds it. */
function apiSchema() {
  return Supergraph.build(supergraphSdl, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES })
    .apiSchema()
    .toGraphQLJSSchema();
}
