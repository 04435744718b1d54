import { composeServices } from '@apollo/composition';
import { ApolloGateway, LocalGraphQLDataSource, type GraphQLDataSource } from '@apollo/gateway';
import type { QueryPlan } from '@apollo/query-planner';
import { ApolloServer } from '@apollo/server';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { buildSchema, GraphQLError, OperationTypeNode, parse } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../platform/src/logger.ts';
import { withSubgraphEnforcedSecurity } from '../../src/executor/served-supergraph.ts';
import { ExecutorErrorCode, fetchPlan, OwnExecutorGateway } from '../../src/executor/index.ts';

/**
 * The router's executor over small in-process graphs: composed from SDL,
 * each subgraph a LocalGraphQLDataSource behind a source that, like
 * SubgraphFetch, sends the queries issued in one turn as one request, so
 * the tests can count requests per subgraph.
 */

const federation = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.8", import: ["@key", "@external", "@requires", "@context", "@fromContext"])`;
const logger = createLogger({ service: 'executor-test', level: 'silent' });

interface SubgraphDefinition {
  name: string;
  sdl: string;
  resolvers: GraphQLResolverMap<unknown>;
}

/** Sends everything issued in one turn as one request, and counts requests, as SubgraphFetch merges them. */
class TurnBatchedSource implements GraphQLDataSource {
  requests = 0;
  /** Every query sent, with its variables, in order. */
  readonly sent: Array<{ query: string; variables: Record<string, unknown> }> = [];
  private pending: Array<() => void> = [];

  constructor(private readonly inner: GraphQLDataSource) {}

  process(options: Parameters<GraphQLDataSource['process']>[0]): ReturnType<GraphQLDataSource['process']> {
    this.sent.push({ query: options.request.query!, variables: options.request.variables ?? {} });
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0)
        setImmediate(() => {
          this.requests++;
          const turn = this.pending;
          this.pending = [];
          for (const send of turn) send();
        });
      this.pending.push(() => void this.inner.process(options).then(resolve, reject));
    });
  }
}

interface TestGraph {
  run(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<{
    data?: Record<string, unknown> | null;
    errors?: ReadonlyArray<{ message: string; path?: unknown; extensions?: Record<string, unknown> }>;
  }>;
  sources: Record<string, TurnBatchedSource>;
  supergraphSdl: string;
}

const servers: ApolloServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

function compose(subgraphs: readonly SubgraphDefinition[]): string {
  const result = composeServices(
    subgraphs.map(({ name, sdl }) => ({ name, url: `http://${name}.test/graphql`, typeDefs: parse(sdl) })),
  );
  if (result.errors) throw new Error(result.errors.map(String).join('\n'));
  return withSubgraphEnforcedSecurity(result.supergraphSdl, { contextArguments: true });
}

async function graph(subgraphs: readonly SubgraphDefinition[]): Promise<TestGraph> {
  const supergraphSdl = compose(subgraphs);
  const sources: Record<string, TurnBatchedSource> = {};
  for (const { name, sdl, resolvers } of subgraphs)
    sources[name] = new TurnBatchedSource(
      new LocalGraphQLDataSource(buildSubgraphSchema({ typeDefs: parse(sdl), resolvers })),
    );
  const gateway = new OwnExecutorGateway({
    gateway: new ApolloGateway({ supergraphSdl, logger, buildService: ({ name }) => sources[name]! }),
    supergraphSdl,
    dataSource: (name) => sources[name]!,
    logger,
  });
  const server = new ApolloServer({ gateway, logger });
  await server.start();
  servers.push(server);
  return {
    sources,
    supergraphSdl,
    async run(query, variables) {
      // Counted per operation.
      for (const source of Object.values(sources)) {
        source.requests = 0;
        source.sent.length = 0;
      }
      const response = await server.executeOperation({ query, variables });
      if (response.body.kind !== 'single') throw new Error('expected a single result');
      return response.body.singleResult as Awaited<ReturnType<TestGraph['run']>>;
    },
  };
}

const users = [
  { id: 'u1', name: 'Ada' },
  { id: 'u2', name: 'Grace' },
];
const products = [
  { upc: 'p1', name: 'Table', price: 900, weight: 20 },
  { upc: 'p2', name: 'Chair', price: 100, weight: 5 },
  { upc: 'p3', name: 'Lamp', price: 50, weight: null },
];
const reviews = [
  { id: 'r1', body: 'Sturdy', authorId: 'u1', upc: 'p1' },
  { id: 'r2', body: 'Wobbly', authorId: 'u2', upc: 'p2' },
  { id: 'r3', body: 'Bright', authorId: 'u1', upc: 'p3' },
  { id: 'r4', body: 'Gone', authorId: 'u2', upc: null },
];

/** Mutations append here, so a test can see their order. */
let mutationLog: string[] = [];
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const shop: SubgraphDefinition[] = [
  {
    name: 'accounts',
    sdl: `${federation}
      type Query { users: [User!]! }
      type Mutation { logAccount(entry: String!, wait: Int): String! }
      type User @key(fields: "id") { id: ID! name: String! }`,
    resolvers: {
      Query: { users: () => users },
      Mutation: {
        logAccount: async (_: unknown, { entry, wait }: { entry: string; wait?: number }) => {
          if (wait) await delay(wait);
          mutationLog.push(entry);
          return entry;
        },
      },
      User: { __resolveReference: ({ id }: { id: string }) => users.find((user) => user.id === id) },
    },
  },
  {
    name: 'products',
    sdl: `${federation}
      type Query { topProducts: [Product!]! }
      type Mutation { logProduct(entry: String!): String! }
      type Product @key(fields: "upc") { upc: String! name: String! price: Int! weight: Int }`,
    resolvers: {
      Query: { topProducts: () => products },
      Mutation: {
        logProduct: (_: unknown, { entry }: { entry: string }) => {
          mutationLog.push(entry);
          return entry;
        },
      },
      Product: { __resolveReference: ({ upc }: { upc: string }) => products.find((product) => product.upc === upc) },
    },
  },
  {
    name: 'inventory',
    sdl: `${federation}
      type Product @key(fields: "upc") {
        upc: String!
        price: Int! @external
        weight: Int @external
        inStock: Boolean
        shippingEstimate: Int @requires(fields: "price weight")
      }`,
    resolvers: {
      Product: {
        // p3 is unknown to inventory: its entity is null.
        __resolveReference: (reference: { upc: string; price?: number; weight?: number | null }) =>
          reference.upc === 'p3' ? null : reference,
        inStock: ({ upc }: { upc: string }) => upc !== 'p2',
        shippingEstimate: ({ price, weight }: { price: number; weight: number | null }) =>
          price > 500 ? 0 : (weight ?? 0) * 2,
      },
    },
  },
  {
    name: 'reviews',
    sdl: `${federation}
      type Review { id: ID! body: String! author: User! product: Product }
      type User @key(fields: "id") { id: ID! reviews: [Review!]! }
      type Product @key(fields: "upc") { upc: String! reviews: [Review!] }`,
    resolvers: {
      Review: {
        author: ({ authorId }: { authorId: string }) => ({ id: authorId }),
        product: ({ upc }: { upc: string | null }) => (upc ? { upc } : null),
      },
      User: { reviews: ({ id }: { id: string }) => reviews.filter((review) => review.authorId === id) },
      Product: {
        reviews: ({ upc }: { upc: string }) => {
          if (upc === 'p2') throw new GraphQLError('reviews of p2 are hidden', { extensions: { code: 'FORBIDDEN' } });
          return reviews.filter((review) => review.upc === upc);
        },
      },
    },
  },
];

describe('executePlan', () => {
  it('joins entities from several subgraphs, following lists', async () => {
    const { run, sources } = await graph(shop);
    const result = await run('{ users { name reviews { body product { name } } } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      users: [
        {
          name: 'Ada',
          reviews: [
            { body: 'Sturdy', product: { name: 'Table' } },
            { body: 'Bright', product: { name: 'Lamp' } },
          ],
        },
        {
          name: 'Grace',
          reviews: [
            { body: 'Wobbly', product: { name: 'Chair' } },
            { body: 'Gone', product: null },
          ],
        },
      ],
    });
    // The review without a product is no representation; each product is sent once.
    const productFetch = sources.products!.sent.find((sent) => sent.query.includes('_entities'))!;
    expect(productFetch.variables.representations).toEqual([
      { __typename: 'Product', upc: 'p1' },
      { __typename: 'Product', upc: 'p3' },
      { __typename: 'Product', upc: 'p2' },
    ]);
  });

  it('sends the fields a @requires needs, and leaves an object whose entity is null as it was', async () => {
    const { run } = await graph(shop);
    const result = await run('{ topProducts { name inStock shippingEstimate } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      topProducts: [
        { name: 'Table', inStock: true, shippingEstimate: 0 },
        { name: 'Chair', inStock: false, shippingEstimate: 10 },
        { name: 'Lamp', inStock: null, shippingEstimate: null },
      ],
    });
  });

  it('gives a subgraph error the path of its entity in the response, with its code', async () => {
    const { run } = await graph(shop);
    const result = await run('{ topProducts { name reviews { body } } }');
    expect(result.data).toEqual({
      topProducts: [
        { name: 'Table', reviews: [{ body: 'Sturdy' }] },
        { name: 'Chair', reviews: null },
        { name: 'Lamp', reviews: [{ body: 'Bright' }] },
      ],
    });
    expect(result.errors).toEqual([
      expect.objectContaining({
        message: 'reviews of p2 are hidden',
        path: ['topProducts', 1, 'reviews'],
        extensions: expect.objectContaining({ code: 'FORBIDDEN', serviceName: 'reviews' }),
      }),
    ]);
  });

  it('reports a failed root fetch at each root field it was for, and only there', async () => {
    const { run, sources } = await graph(shop);
    sources.accounts!.process = () => Promise.reject(new Error('accounts is down'));
    const result = await run('{ users { name } again: users { id } topProducts { name } }');
    // Both fields are non-null, so `data` is null; their errors explain it, and no null error is added.
    expect(result.data).toBeNull();
    expect(result.errors?.map(({ message, path }) => ({ message, path }))).toEqual([
      { message: 'accounts is down', path: ['users'] },
      { message: 'accounts is down', path: ['again'] },
    ]);
  });

  it('runs a fetch under @include only when its condition holds', async () => {
    const { run, sources } = await graph(shop);
    const query = 'query($with: Boolean!) { topProducts { name reviews @include(if: $with) { body } } }';
    const without = await run(query, { with: false });
    expect(without.data).toEqual({ topProducts: [{ name: 'Table' }, { name: 'Chair' }, { name: 'Lamp' }] });
    expect(sources.reviews!.requests).toBe(0);
    const withReviews = await run(query, { with: true });
    expect((withReviews.data?.topProducts as Array<Record<string, unknown>>)[0]).toEqual({
      name: 'Table',
      reviews: [{ body: 'Sturdy' }],
    });
    expect(sources.reviews!.requests).toBe(1);
  });

  it('runs the fields of a mutation one after the other, in order', async () => {
    const { run } = await graph(shop);
    mutationLog = [];
    const result = await run(
      'mutation { a: logAccount(entry: "1", wait: 30) b: logProduct(entry: "2") c: logAccount(entry: "3") d: logProduct(entry: "4") }',
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ a: '1', b: '2', c: '3', d: '4' });
    expect(mutationLog).toEqual(['1', '2', '3', '4']);
  });

  it('sends the fetches that two branches need next to one subgraph as one request', async () => {
    const { run, sources } = await graph(shop);
    const result = await run('{ users { reviews { body } } topProducts { inStock reviews { id } } }');
    expect(result.data?.users).toEqual([
      { reviews: [{ body: 'Sturdy' }, { body: 'Bright' }] },
      { reviews: [{ body: 'Wobbly' }, { body: 'Gone' }] },
    ]);
    // users → User.reviews and topProducts → Product.reviews come from different branches of the plan.
    expect(sources.reviews!.sent).toHaveLength(2);
    expect(sources.reviews!.requests).toBe(1);
    expect(sources.accounts!.requests + sources.products!.requests + sources.inventory!.requests).toBe(3);
  });

  it('holds a fetch nothing waits for until a later wave that asks its subgraph anyway', async () => {
    const { run, sources } = await graph(shop);
    // inStock could go in the second wave, beside Product.reviews; shippingEstimate must wait for the products
    // the reviews name, in the fourth. Held, inStock goes with it: one request to inventory, not two.
    const result = await run('{ topProducts { upc inStock reviews { product { upc shippingEstimate } } } }');
    // p2's reviews are hidden by the reviews subgraph.
    expect(result.errors?.map((error) => error.path)).toEqual([['topProducts', 1, 'reviews']]);
    expect(result.data?.topProducts).toEqual([
      { upc: 'p1', inStock: true, reviews: [{ product: { upc: 'p1', shippingEstimate: 0 } }] },
      { upc: 'p2', inStock: false, reviews: null },
      { upc: 'p3', inStock: null, reviews: [{ product: { upc: 'p3', shippingEstimate: null } }] },
    ]);
    expect(sources.inventory!.requests).toBe(1);
    expect(sources.products!.requests + sources.reviews!.requests).toBe(3);
  });

  it('merges same-operation fetches of a wave into one _entities fetch, each entity once', async () => {
    const { run, sources } = await graph(shop);
    const result = await run('{ a: topProducts { inStock } b: topProducts { inStock } }');
    expect(result.errors).toBeUndefined();
    const inventoryFetches = sources.inventory!.sent;
    expect(inventoryFetches).toHaveLength(1);
    expect(inventoryFetches[0]!.variables.representations).toHaveLength(3);
    expect(result.data?.a).toEqual(result.data?.b);
  });

  it('passes @fromContext arguments read from each entity’s ancestors', async () => {
    const contextFederation = federation;
    const { run, sources } = await graph([
      {
        name: 'stores',
        sdl: `${contextFederation}
          type Query { stores: [Store!]! }
          type Store @key(fields: "id") @context(name: "store") { id: ID! currency: String! items: [Item!]! }
          type Item @key(fields: "sku") { sku: ID! }`,
        resolvers: {
          Query: {
            stores: () => [
              { id: 's1', currency: 'EUR', items: [{ sku: 'a' }, { sku: 'b' }] },
              { id: 's2', currency: 'USD', items: [{ sku: 'a' }] },
            ],
          },
        },
      },
      {
        name: 'prices',
        sdl: `${contextFederation}
          type Store @key(fields: "id") @context(name: "store") { id: ID! currency: String! @external }
          type Item @key(fields: "sku") {
            sku: ID!
            price(currency: String @fromContext(field: "$store { currency }")): String!
          }`,
        resolvers: {
          Item: {
            __resolveReference: (reference: { sku: string }) => reference,
            price: ({ sku }: { sku: string }, { currency }: { currency: string }) => `${sku} in ${currency}`,
          },
        },
      },
    ]);
    const result = await run('{ stores { items { price } } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      stores: [{ items: [{ price: 'a in EUR' }, { price: 'b in EUR' }] }, { items: [{ price: 'a in USD' }] }],
    });
    // One fetch per currency, in the same turn: one request.
    expect(sources.prices!.sent).toHaveLength(2);
    expect(sources.prices!.requests).toBe(1);
  });

  it('answers __schema and __type from the API schema, beside fetched fields, through fragments and aliases', async () => {
    const { run, sources } = await graph(shop);
    const result = await run(`
      query Mixed { ...Schema product: __type(name: "Product") { name fields { name } } topProducts { upc } }
      fragment Schema on Query { __schema { queryType { name } } }
    `);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      __schema: { queryType: { name: 'Query' } },
      product: {
        name: 'Product',
        fields: ['upc', 'price', 'weight', 'inStock', 'shippingEstimate', 'name', 'reviews'].map((name) => ({ name })),
      },
      topProducts: products.map(({ upc }) => ({ upc })),
    });
    expect(sources.products!.requests).toBe(1);
    expect(sources.accounts!.requests + sources.inventory!.requests + sources.reviews!.requests).toBe(0);
  });

  it('refuses plans with nodes it cannot run yet, with a code', async () => {
    const schema = buildSchema('type Query { a: Int }');
    const requestContext = {
      request: { variables: {} },
      context: {},
      schema,
    } as unknown as GatewayGraphQLRequestContext;
    const subscription: QueryPlan = {
      kind: 'QueryPlan',
      node: {
        kind: 'Subscription',
        primary: {
          kind: 'Fetch',
          serviceName: 'a',
          variableUsages: [],
          operation: 'subscription { a }',
          operationKind: OperationTypeNode.SUBSCRIPTION,
          operationName: undefined,
        },
      },
    };
    const failure = await fetchPlan({
      plan: subscription,
      supergraphSchema: schema,
      apiSchema: schema,
      requestContext,
      dataSource: () => {
        throw new Error('no fetch expected');
      },
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GraphQLError);
    expect((failure as GraphQLError).extensions.code).toBe(ExecutorErrorCode.UnsupportedQueryPlanNode);
  });
});
