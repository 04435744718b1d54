import { once } from 'node:events';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectRows, type Database } from '../platform/src/db/database.ts';
import { createEventBus, type EventBus } from '../platform/src/events/index.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import { loadSubgraph } from '../subgraphs/registry.ts';
import { runScript } from './support/processes.ts';
import { startShopGraph, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * Read models that start empty, as in a production deployment that is not
 * seeded: republishing the source's current state (`npm run db:republish`)
 * fills orders' prices and reviews' usernames, changes nothing when repeated,
 * and shoppers can then order and review.
 */

const postgresAdminUrl = inject('postgresAdminUrl');

let graph: ShopGraph;
let bus: EventBus;

beforeAll(async () => {
  bus = createEventBus({ redis: null, logger: testLogger('bus') });
  graph = await startShopGraph('republish', {}, { bus });
});

afterAll(async () => {
  await graph?.stop();
  await bus?.close();
});

type AnyDatabase = Database<Record<string, unknown>>;
const dbOf = (name: keyof ShopGraph['subgraphs']) => graph.subgraphs[name].database.db as unknown as AnyDatabase;
const rows = <T extends Record<string, unknown>>(name: keyof ShopGraph['subgraphs'], query: ReturnType<typeof sql>) =>
  selectRows<T>(dbOf(name), query);

async function pricesMatchCatalog(): Promise<boolean> {
  const catalog = await rows<{ id: string; price: number }>(
    'products',
    sql`select id, price_cents as price from products order by id`,
  );
  const readModel = await rows<{ id: string; price: number }>(
    'orders',
    sql`select product_id as id, unit_price_cents as price from product_prices order by product_id`,
  );
  return JSON.stringify(catalog) === JSON.stringify(readModel);
}

async function usernamesMatchAccounts(): Promise<boolean> {
  const accounts = await rows('accounts', sql`select id, username from users order by id`);
  const readModel = await rows('reviews', sql`select user_id as id, username from review_authors order by user_id`);
  return JSON.stringify(accounts) === JSON.stringify(readModel);
}

describe('republishing state for read models that start empty', () => {
  it('fills the price and username read models, and shoppers can order and review again', async () => {
    await dbOf('orders').execute(sql`delete from product_prices`);
    await dbOf('reviews').execute(sql`delete from review_authors`);
    const token = await signTestToken(testJwtSecret, seedUser(3).id, []);
    const headers = { authorization: `Bearer ${token}` };
    const order = (key: string) =>
      graph.query<any>(
        `mutation ($key: String!, $product: ID!) {
          placeOrder(input: { idempotencyKey: $key, items: [{ productId: $product, quantity: 1 }] }) { order { id } }
        }`,
        { key, product: seedProduct(4).id },
        headers,
      );
    // With empty read models, orders knows no product and reviews no author.
    expect((await order('before')).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const products = await loadSubgraph('products');
    const accounts = await loadSubgraph('accounts');
    expect(await products.events!.republish!(graph.subgraphs.products.database.db)).toBeGreaterThan(0);
    expect(await accounts.events!.republish!(graph.subgraphs.accounts.database.db)).toBeGreaterThan(0);

    await until(pricesMatchCatalog, { timeoutMs: 20_000, what: 'the price read model filled' });
    await until(usernamesMatchAccounts, { timeoutMs: 20_000, what: 'the username read model filled' });
    expect((await order('after')).body.data?.placeOrder.order.id).toEqual(expect.any(String));
    const review = await graph.query<any>(
      `mutation ($product: ID!) {
        addReview(input: { productId: $product, rating: 4, body: "Back in stock and as good as before." }) {
          review { author { username } }
        }
      }`,
      { product: seedProduct(118).id },
      headers,
    );
    expect(review.body.errors).toBeUndefined();
    expect(review.body.data.addReview.review.author.username).toBe(seedUser(3).username);
  });

  it('changes nothing when repeated: consumers keep state that is already current', async () => {
    const before = await rows('orders', sql`select * from product_prices order by product_id`);
    const outbox = async () =>
      (await rows<{ count: number }>('products', sql`select count(*)::int as count from outbox`))[0]!.count;
    const recordedBefore = await outbox();
    const recorded = await (await loadSubgraph('products')).events!.republish!(graph.subgraphs.products.database.db);
    expect(await outbox()).toBe(recordedBefore + recorded);
    await until(
      async () =>
        (
          await rows<{ count: number }>(
            'products',
            sql`select count(*)::int as count from outbox where published_at is null`,
          )
        )[0]!.count === 0,
      { timeoutMs: 20_000, what: 'the republished events relayed' },
    );
    // Prices keep their values; only the time they were last stated moves on.
    const after = await rows('orders', sql`select * from product_prices order by product_id`);
    const values = (list: Array<Record<string, unknown>>) =>
      list.map(({ product_id, unit_price_cents, currency_code }) => ({ product_id, unit_price_cents, currency_code }));
    expect(values(after)).toEqual(values(before));
  });

  it('runs as `npm run db:republish -- <subgraph>` against the database the environment names', async () => {
    if (!postgresAdminUrl) {
      expect(process.env.CI).not.toBe('true');
      return;
    }
    const name = (await rows<{ name: string }>('accounts', sql`select current_database() as name`))[0]!.name;
    const databaseUrl = new URL(postgresAdminUrl);
    databaseUrl.pathname = `/${name}`;
    const before = (await rows<{ count: number }>('accounts', sql`select count(*)::int as count from outbox`))[0]!
      .count;
    const script = runScript('scripts/db.ts', ['republish', 'accounts'], {
      ACCOUNTS_DATABASE_URL: databaseUrl.toString(),
    });
    const exitCode = script.child.exitCode ?? (await once(script.child, 'exit'))[0];
    expect(exitCode, script.output()).toBe(0);
    const users = (await rows<{ count: number }>('accounts', sql`select count(*)::int as count from users`))[0]!.count;
    expect(script.output()).toContain(`accounts: recorded ${users} events in the outbox`);
    const after = (await rows<{ count: number }>('accounts', sql`select count(*)::int as count from outbox`))[0]!.count;
    expect(after).toBe(before + users);
  });
});
