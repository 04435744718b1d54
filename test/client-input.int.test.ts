import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { count, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/src/db/database.ts';
import { newEvent } from '../platform/src/events/index.ts';
import { createLogger } from '../platform/src/logger.ts';
import { seedOrder, seedProduct, seedUser, worldSizes } from '../seed/world.ts';
import { applyUserProfileChanged } from '../subgraphs/orders/src/customers.ts';
import * as orderTables from '../subgraphs/orders/src/db/schema.ts';
import type { SubgraphName } from '../subgraphs/registry.ts';
import { startShopGraph, type GraphQLResponse, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/**
 * What a client sends that the database cannot take, and who may write:
 * through the router to real subgraphs on real Postgres, with every
 * service logging at every level into `logged`.
 */

const logged: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logged.push(chunk.toString('utf8'));
    done();
  },
});

let graph: ShopGraph;
const alice = seedUser(0);

beforeAll(async () => {
  graph = await startShopGraph(
    'client_input',
    {},
    { loggerFor: (service) => createLogger({ service, level: 'trace', destination: capture }) },
  );
});

afterAll(async () => {
  await graph?.stop();
});

const bearer = async (subject: string) => ({
  authorization: `Bearer ${await signTestToken(testJwtSecret, subject)}`,
});
const codes = (response: GraphQLResponse) => (response.body.errors ?? []).map((error) => error.extensions?.code);

const nul = '\u0000';
const loneSurrogate = '\ud800';
/** A cursor of the name ordering, as a hand-made one could hold any text. */
const nameCursor = (name: string) =>
  Buffer.from(JSON.stringify(['products:NAME_ASC', [name, seedProduct(0).id]])).toString('base64url');

describe('text Postgres cannot store is BAD_USER_INPUT, before any SQL', () => {
  const cases: Array<{
    case: string;
    subgraph: SubgraphName;
    query: string;
    variables?: Record<string, unknown>;
    signedIn?: boolean;
    argumentName: string;
  }> = [
    {
      case: 'a NUL in a sku variable',
      subgraph: 'products',
      query: 'query ($sku: String) { product(sku: $sku) { name } }',
      variables: { sku: `AUD-000027${nul}` },
      argumentName: 'sku',
    },
    {
      case: 'a NUL in a sku literal',
      subgraph: 'products',
      query: '{ product(sku: "AUD-000027\\u0000") { name } }',
      argumentName: 'sku',
    },
    {
      case: 'a NUL in a search',
      subgraph: 'products',
      query: 'query ($filter: ProductFilter) { products(filter: $filter) { totalCount } }',
      variables: { filter: { search: `head${nul}phones` } },
      argumentName: 'filter',
    },
    {
      case: 'a lone surrogate in a search',
      subgraph: 'products',
      query: 'query ($filter: ProductFilter) { products(filter: $filter) { totalCount } }',
      variables: { filter: { search: `head${loneSurrogate}phones` } },
      argumentName: 'filter',
    },
    {
      case: 'a NUL in a category',
      subgraph: 'products',
      query: 'query ($filter: ProductFilter) { products(filter: $filter) { totalCount } }',
      variables: { filter: { category: `audio${nul}` } },
      argumentName: 'filter',
    },
    {
      case: 'a NUL in a cursor',
      subgraph: 'products',
      query: 'query ($after: String) { products(after: $after) { totalCount } }',
      variables: { after: `abc${nul}` },
      argumentName: 'after',
    },
    {
      case: 'a NUL inside a well-formed cursor',
      subgraph: 'products',
      query: 'query ($after: String) { products(after: $after, orderBy: NAME_ASC) { totalCount } }',
      variables: { after: nameCursor(`Aurora${nul}`) },
      argumentName: 'after',
    },
    {
      case: 'a NUL in a list of ids',
      subgraph: 'products',
      query: 'query ($ids: [ID!]!) { productsById(ids: $ids) { name } }',
      variables: { ids: [seedProduct(0).id, `x${nul}`] },
      argumentName: 'ids',
    },
    {
      case: 'a NUL in a review body',
      subgraph: 'reviews',
      query: 'mutation ($input: AddReviewInput!) { addReview(input: $input) { review { id } } }',
      variables: { input: { productId: seedProduct(1).id, rating: 4, body: `Good${nul}` } },
      signedIn: true,
      argumentName: 'input',
    },
    {
      case: 'a lone surrogate in a review body',
      subgraph: 'reviews',
      query: 'mutation ($input: AddReviewInput!) { addReview(input: $input) { review { id } } }',
      variables: { input: { productId: seedProduct(1).id, rating: 4, body: `Good ${'\udc00'}` } },
      signedIn: true,
      argumentName: 'input',
    },
    {
      case: 'a NUL in a profile name',
      subgraph: 'accounts',
      query: 'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id } } }',
      variables: { input: { name: `Ada${nul}` } },
      signedIn: true,
      argumentName: 'input',
    },
    {
      case: 'a NUL in an idempotency key',
      subgraph: 'orders',
      query: 'mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { created } }',
      variables: { input: { items: [{ productId: seedProduct(1).id, quantity: 1 }], idempotencyKey: `k${nul}` } },
      signedIn: true,
      argumentName: 'input',
    },
    {
      case: 'a NUL in an order id',
      subgraph: 'orders',
      query: 'mutation ($id: ID!) { cancelOrder(id: $id) { order { id } } }',
      variables: { id: `${randomUUID()}${nul}` },
      signedIn: true,
      argumentName: 'id',
    },
  ];

  it.each(cases)('$case', async ({ subgraph, query, variables, signedIn, argumentName }) => {
    const statements = graph.subgraphs[subgraph].database.statementCount();
    const response = await graph.query(query, variables, signedIn ? await bearer(alice.id) : {});
    expect(response.status).toBe(200);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.body.errors![0]).toMatchObject({
      message: expect.stringMatching(/(NUL character|unpaired UTF-16 surrogate|not a cursor).*/),
      extensions: { code: 'BAD_USER_INPUT', argumentName },
    });
    // Refused before the resolver: not one statement reached the database.
    expect(graph.subgraphs[subgraph].database.statementCount()).toBe(statements);
  });

  it('accepts text with well-formed surrogate pairs (emoji)', async () => {
    const response = await graph.query('query ($filter: ProductFilter) { products(filter: $filter) { totalCount } }', {
      filter: { search: '🎧' },
    });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toEqual({ products: { totalCount: 0 } });
  });
});

describe('a failed statement never logs its parameter values', () => {
  it('keeps them out of every log line and out of the response', async () => {
    const marker = `MARKER-${randomUUID()}`;
    const products = graph.subgraphs.products.database.db;
    // A bug as the database sees it: the column the statement names is gone.
    await products.execute(sql`alter table products rename column sku to sku_gone`);
    const before = logged.length;
    let response: GraphQLResponse;
    try {
      response = await graph.query('query ($sku: String) { product(sku: $sku) { name } }', { sku: marker });
    } finally {
      await products.execute(sql`alter table products rename column sku_gone to sku`);
    }
    expect(codes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
    const lines = logged.slice(before).join('');
    // The failure is logged, with the statement and the server's code, but not the value it was given.
    expect(lines).toContain('"code":"42703"');
    expect(lines).toContain('where \\"products\\".\\"sku\\" in ($1)');
    expect(lines).not.toContain(marker);
    expect(JSON.stringify(response.body)).not.toContain(marker);
  });

  it('withholds the value a data exception quotes, and the key a constraint violation details', async () => {
    const marker = `MARKER-${randomUUID()}`;
    const database = graph.subgraphs.orders.database.db as unknown as Database<typeof orderTables>;
    const logger = createLogger({ service: 'test', level: 'trace', destination: capture });
    const failures: unknown[] = [];
    // 22P02: Postgres' message quotes the text that is not a uuid.
    await database.execute(sql`select ${marker}::uuid`).catch((error: unknown) => failures.push(error));
    // 23505: Postgres' detail quotes the key that is taken.
    const [existing] = await database.select().from(orderTables.customers).limit(1);
    await database
      .insert(orderTables.idempotencyKeys)
      .values({
        userId: existing!.userId,
        key: marker,
        requestHash: 'x'.repeat(64),
        orderId: seedOrder(0, worldSizes.small).id,
        expiresAt: new Date(Date.now() + 60_000),
      })
      .then(() =>
        database.insert(orderTables.idempotencyKeys).values({
          userId: existing!.userId,
          key: marker,
          requestHash: 'y'.repeat(64),
          orderId: seedOrder(0, worldSizes.small).id,
          expiresAt: new Date(Date.now() + 60_000),
        }),
      )
      .catch((error: unknown) => failures.push(error));
    expect(failures).toHaveLength(2);
    const before = logged.length;
    for (const error of failures) logger.error({ err: error }, 'statement failed');
    const lines = logged.slice(before);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('"code":"22P02"');
    expect(lines[1]).toContain('"code":"23505"');
    expect(lines[1]).toContain('"constraint_name":"idempotency_keys_pkey"');
    for (const line of lines) expect(line).not.toContain(marker);
  });
});

describe('a token for someone without an account', () => {
  const strangers = [
    { case: 'a UUID no account has', subject: randomUUID() },
    { case: 'a subject that is no UUID', subject: 'someone@identity-provider' },
  ];
  const ordersDb = () => graph.subgraphs.orders.database.db as unknown as Database<typeof orderTables>;
  const orderCount = async () => (await ordersDb().select({ n: count() }).from(orderTables.orders))[0]!.n;
  const outboxCount = async () => (await ordersDb().select({ n: count() }).from(orderTables.outbox))[0]!.n;
  const cancellable = Array.from({ length: worldSizes.small.orders }, (_, index) =>
    seedOrder(index, worldSizes.small),
  ).find((order) => order.status === 'PENDING' || order.status === 'CONFIRMED')!;

  const writes = [
    {
      name: 'placeOrder',
      query: 'mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } }',
      variables: () => ({
        input: { items: [{ productId: seedProduct(1).id, quantity: 1 }], idempotencyKey: randomUUID() },
      }),
    },
    {
      name: 'cancelOrder',
      query: 'mutation ($id: ID!) { cancelOrder(id: $id) { order { id } } }',
      variables: () => ({ id: cancellable.id }),
    },
    {
      name: 'addReview',
      query: 'mutation ($input: AddReviewInput!) { addReview(input: $input) { review { id } } }',
      variables: () => ({ input: { productId: seedProduct(1).id, rating: 5, body: 'Great.' } }),
    },
    {
      name: 'updateProfile',
      query: 'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id } } }',
      variables: () => ({ input: { name: 'Nobody' } }),
    },
  ];

  describe.each(strangers)('($case)', ({ subject }) => {
    it.each(writes)('cannot $name: FORBIDDEN, and nothing is written', async ({ query, variables }) => {
      const [orders, events] = [await orderCount(), await outboxCount()];
      const response = await graph.query(query, variables(), await bearer(subject));
      expect(response.status).toBe(200);
      expect(codes(response)).toEqual(['FORBIDDEN']);
      expect(response.body.data).toBeNull();
      // No order, so no OrderPlaced, so no stock reserved for an order nobody can see.
      expect(await orderCount()).toBe(orders);
      expect(await outboxCount()).toBe(events);
    });

    it('reads public data, and has no viewer', async () => {
      const response = await graph.query<any>(
        'query ($sku: String) { viewer { id } product(sku: $sku) { name reviews(first: 1) { totalCount } } }',
        { sku: seedProduct(0).sku },
        await bearer(subject),
      );
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data.viewer).toBeNull();
      expect(response.body.data.product.name).toBe(seedProduct(0).name);
    });
  });

  it('can order once accounts announces the account', async () => {
    const newcomer = randomUUID();
    const headers = await bearer(newcomer);
    const refused = await graph.query(writes[0]!.query, writes[0]!.variables(), headers);
    expect(codes(refused)).toEqual(['FORBIDDEN']);
    await applyUserProfileChanged(
      ordersDb(),
      newEvent('UserProfileChanged', newcomer, {
        userId: newcomer,
        username: 'newcomer',
        name: 'New Comer',
        changedAt: new Date().toISOString(),
      }),
    );
    const placed = await graph.query<any>(writes[0]!.query, writes[0]!.variables(), headers);
    expect(placed.body.errors).toBeUndefined();
    expect(placed.body.data.placeOrder.order.id).toEqual(expect.any(String));
  });
});
