import { composeServices } from '@apollo/composition';
import { ApolloGateway, LocalGraphQLDataSource, type GraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { GraphQLError, parse } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyPayloads } from '../../../test/support/multipart.ts';
import { testLogger } from '../../../test/support/shop-graph.ts';
import { OwnExecutorGateway } from '../../src/executor/index.ts';
import { withSubgraphEnforcedSecurity } from '../../src/executor/served-supergraph.ts';

/**
 * `@defer` in the router's executor, on a small graph in process: where a
 * deferred fragment's null stops, errors nobody else claims, plans with
 * corrections, a fast fragment beside a slow one, objects the client holds
 * as null, type conditions in the current format, and what is refused.
 */

const federation = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.8", import: ["@key"])`;
const products = [
  { upc: 'p1', name: 'Table' },
  { upc: 'p2', name: 'Chair' },
  { upc: 'p3', name: 'Lamp' },
];
const subgraphs: Array<{ name: string; sdl: string; resolvers: GraphQLResolverMap<unknown> }> = [
  {
    name: 'products',
    sdl: `${federation}
      type Query { topProducts: [Product!]! top: Product! one: Product things: [Thing] }
      type Mutation { touch: Product }
      type Product @key(fields: "upc") { upc: String! name: String! }
      union Thing = Product | Book
      type Book { title: String! }`,
    resolvers: {
      Query: {
        topProducts: () => products,
        top: () => products[0],
        one: () => products[1],
        things: () => [
          { __typename: 'Product', ...products[0] },
          { __typename: 'Book', title: 'Dune' },
          { __typename: 'Product', ...products[2] },
        ],
      },
      Mutation: { touch: () => products[0] },
      Thing: { __resolveType: (value: { __typename: string }) => value.__typename },
      Product: { __resolveReference: ({ upc }: { upc: string }) => products.find((product) => product.upc === upc) },
    },
  },
  {
    name: 'inventory',
    sdl: `${federation}
      type Product @key(fields: "upc") { upc: String! inStock: Boolean stock: Int! }`,
    resolvers: {
      Product: {
        __resolveReference: (reference: unknown) => reference,
        inStock: ({ upc }: { upc: string }) => upc !== 'p2',
        stock: ({ upc }: { upc: string }) => {
          if (upc === 'p2') throw new GraphQLError('No stock figure for p2.', { extensions: { code: 'NO_STOCK' } });
          return 3;
        },
      },
    },
  },
  {
    name: 'reviews',
    sdl: `${federation}
      type Product @key(fields: "upc") { upc: String! rating: Int }`,
    resolvers: { Product: { __resolveReference: (reference: unknown) => reference, rating: () => 5 } },
  },
];

/** Per subgraph: a gate its fetches wait at while closed, and whether it is down. */
const held: Record<string, { opened: Promise<void>; open: () => void; waiting: number } | undefined> = {};
const down: Record<string, boolean> = {};
const hold = (name: string) => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  held[name] = { opened, open, waiting: 0 };
};
const release = (name: string) => {
  held[name]?.open();
  held[name] = undefined;
};

class ControlledSource implements GraphQLDataSource {
  constructor(
    private readonly name: string,
    private readonly inner: GraphQLDataSource,
  ) {}
  async process(options: Parameters<GraphQLDataSource['process']>[0]) {
    const gate = held[this.name];
    if (gate) {
      gate.waiting++;
      await gate.opened;
    }
    if (down[this.name])
      throw new GraphQLError(`${this.name} is down`, { extensions: { code: 'SUBGRAPH_UNAVAILABLE' } });
    return this.inner.process(options);
  }
}

const legacy = 'multipart/mixed;deferSpec=20220824, application/json';
const current = 'multipart/mixed; incrementalSpec=v0.2';
type Json = Record<string, unknown>;

let server: ApolloServer;

beforeAll(async () => {
  const composed = composeServices(
    subgraphs.map(({ name, sdl }) => ({ name, url: `http://${name}.test/graphql`, typeDefs: parse(sdl) })),
  );
  if (composed.errors) throw new Error(composed.errors.map(String).join('\n'));
  const supergraphSdl = withSubgraphEnforcedSecurity(composed.supergraphSdl, { contextArguments: true });
  const sources: Record<string, GraphQLDataSource> = {};
  for (const { name, sdl, resolvers } of subgraphs)
    sources[name] = new ControlledSource(
      name,
      new LocalGraphQLDataSource(buildSubgraphSchema({ typeDefs: parse(sdl), resolvers })),
    );
  const logger = testLogger('gateway');
  const gateway = new OwnExecutorGateway({
    gateway: new ApolloGateway({ supergraphSdl, logger, buildService: ({ name }) => sources[name]! }),
    supergraphSdl,
    dataSource: (name) => sources[name]!,
    logger,
  });
  server = new ApolloServer({ gateway, logger, includeStacktraceInErrorResponses: false });
  await server.start();
});
afterAll(() => server?.stop());
afterEach(() => {
  for (const name of Object.keys(held)) release(name);
  for (const name of Object.keys(down)) down[name] = false;
});

/** Runs an operation as a client with `accept` would send it; a streamed answer is read payload by payload. */
async function send(query: string, accept: string, variables: Json = {}) {
  const response = await server.executeOperation({
    query,
    variables,
    http: { method: 'POST', headers: new HeaderMap([['accept', accept]]), search: '', body: {} },
  });
  return response;
}

async function payloadsOf(query: string, accept: string, variables: Json = {}): Promise<Json[]> {
  const { body } = await send(query, accept, variables);
  if (body.kind === 'single') return [body.singleResult as Json];
  const payloads: Json[] = [body.initialResult as unknown as Json];
  for await (const payload of body.subsequentResults) payloads.push(payload as unknown as Json);
  return payloads;
}

const whole = async (query: string, variables: Json = {}) => {
  const { body } = await send(query, 'application/json', variables);
  if (body.kind !== 'single') throw new Error('expected one answer');
  return body.singleResult as Json;
};

const itemsOf = (payloads: Json[]) => payloads.flatMap((payload) => (payload.incremental as Json[] | undefined) ?? []);

describe('@defer in the executor', () => {
  it("stops a null inside a deferred fragment at the fragment: that object's part is null, the others arrive", async () => {
    const query = `{ topProducts { upc ... @defer { stock } } }`;
    const payloads = await payloadsOf(query, legacy);
    expect(payloads[0]).toMatchObject({ data: { topProducts: [{ upc: 'p1' }, { upc: 'p2' }, { upc: 'p3' }] } });
    const items = itemsOf(payloads);
    expect(items.map(({ path, data }) => [path, data])).toEqual([
      [['topProducts', 0], { stock: 3 }],
      [['topProducts', 1], null],
      [['topProducts', 2], { stock: 3 }],
    ]);
    expect(items[1]!.errors).toEqual([expect.objectContaining({ path: ['topProducts', 1, 'stock'] })]);
    expect(payloads.at(-1)).toMatchObject({ hasNext: false });

    const currentPayloads = await payloadsOf(query, current);
    const completed = currentPayloads.flatMap((payload) => (payload.completed as Json[] | undefined) ?? []);
    expect(completed).toEqual([
      { id: '0' },
      { id: '1', errors: [expect.objectContaining({ path: ['topProducts', 1, 'stock'] })] },
      { id: '2' },
    ]);
  });

  it('answers a deferred plan that needs a correction as the same query undeferred does', async () => {
    // The alias `upc: name` collides with the key the inventory fetch needs (./corrected-plan.ts).
    const query = `{ one { upc: name ... @defer { inStock } } }`;
    const expected = await whole(`{ one { upc: name inStock } }`);
    expect(expected).toEqual({ data: { one: { upc: 'Chair', inStock: false } } });
    for (const accept of [legacy, current, 'application/json']) {
      const payloads = await payloadsOf(query, accept);
      expect(applyPayloads(payloads).data, accept).toEqual(expected.data);
    }
  });

  it('sends a fast fragment without waiting for a slow one beside it', async () => {
    hold('inventory');
    const { body } = await send(
      `{ top { upc ... @defer(label: "slow") { inStock } ... @defer(label: "fast") { rating } } }`,
      legacy,
    );
    if (body.kind !== 'incremental') throw new Error('expected a stream');
    expect(body.initialResult).toMatchObject({ data: { top: { upc: 'p1' } }, hasNext: true });
    const later = body.subsequentResults[Symbol.asyncIterator]();
    const next = await later.next();
    expect(next.value).toMatchObject({ incremental: [{ label: 'fast', data: { rating: 5 } }], hasNext: true });
    expect(held.inventory!.waiting).toBe(1);
    release('inventory');
    const rest: Json[] = [];
    for (let result = await later.next(); !result.done; result = await later.next())
      rest.push(result.value as unknown as Json);
    expect(rest).toEqual([
      { incremental: [{ label: 'slow', data: { inStock: true }, path: ['top'] }], hasNext: false },
    ]);
  });

  it('sends no part for an object the client holds as null', async () => {
    const query = `{ one { upc stock ... @defer { inStock } } }`;
    for (const accept of [legacy, current]) {
      const payloads = await payloadsOf(query, accept);
      expect(payloads[0]).toMatchObject({ data: { one: null } });
      expect(itemsOf(payloads), accept).toEqual([]);
      expect(payloads.at(-1)).toMatchObject({ hasNext: false });
    }
  });

  it('sends every error a deferred part met, even one no object claims', async () => {
    down.inventory = true;
    for (const accept of [legacy, current]) {
      const applied = applyPayloads(await payloadsOf(`{ top { upc ... @defer { inStock } } }`, accept));
      expect(
        applied.errors.map((error) => (error.extensions as Json).code),
        accept,
      ).toContain('SUBGRAPH_UNAVAILABLE');
    }
  });

  it('announces only the objects a fragment applies to, in the current format', async () => {
    const payloads = await payloadsOf(
      `{ things { ... on Product @defer { inStock } ... on Book { title } } }`,
      current,
    );
    expect(payloads[0]).toMatchObject({
      pending: [
        { id: '0', path: ['things', 0] },
        { id: '1', path: ['things', 2] },
      ],
    });
    expect(applyPayloads(payloads).data).toEqual({
      things: [{ inStock: true }, { title: 'Dune' }, { inStock: true }],
    });
  });

  it("refuses @defer on a mutation's root fields as a client error, and runs nothing", async () => {
    const { body, http } = await send(`mutation { ... @defer { touch { upc } } }`, legacy);
    expect(http.status).toBe(400);
    if (body.kind !== 'single') throw new Error('expected one answer');
    expect(body.singleResult.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('declares @defer to introspection', async () => {
    const answer = await whole(`{ __schema { directives { name } } }`);
    expect((answer.data as { __schema: { directives: Array<{ name: string }> } }).__schema.directives).toContainEqual({
      name: 'defer',
    });
  });
});
