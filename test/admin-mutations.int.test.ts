import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedProduct, seedUser } from '../seed/world.ts';
import { startShopGraph, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';

/** The catalog's admin mutations through the router: behind the admin scope, validated, and purging cached answers. */

const updatePrice = `mutation ($productId: ID!, $price: MoneyInput!) {
  updateProductPrice(productId: $productId, price: $price) { product { id price { centAmount currencyCode } } }
}`;
const restock = `mutation ($productId: ID!, $quantity: Int!) { restock(productId: $productId, quantity: $quantity) { product { id quantity } } }`;
const productQuery = `query ($id: ID!) { product(id: $id) { id price { centAmount } quantity } }`;

let graph: ShopGraph;
const headers: Record<'admin' | 'shopper', Record<string, string>> = { admin: {}, shopper: {} };

beforeAll(async () => {
  graph = await startShopGraph('admin_mutations');
  headers.admin = { authorization: `Bearer ${await signTestToken(testJwtSecret, seedUser(2).id, ['admin'])}` };
  headers.shopper = { authorization: `Bearer ${await signTestToken(testJwtSecret, seedUser(3).id)}` };
});

afterAll(async () => {
  await graph?.stop();
});

const codeOf = (response: { body: { errors?: any[] } }) => response.body.errors?.[0]?.extensions?.code;

describe('updateProductPrice', () => {
  const product = seedProduct(7);

  it('is refused without the admin scope, and changes nothing', async () => {
    const price = { centAmount: 1, currencyCode: 'USD' };
    expect(codeOf(await graph.query(updatePrice, { productId: product.id, price }, headers.shopper))).toBe('FORBIDDEN');
    expect(codeOf(await graph.query(updatePrice, { productId: product.id, price }))).toBe('UNAUTHENTICATED');
    const after = await graph.query<any>(productQuery, { id: product.id });
    expect(after.body.data.product.price.centAmount).toBe(product.priceCents);
  });

  it('sets the price for an admin, and a cached product page shows it at once', async () => {
    const before = await graph.query<any>(productQuery, { id: product.id });
    expect(before.body.data.product.price.centAmount).toBe(product.priceCents);
    expect((await graph.query<any>(productQuery, { id: product.id })).headers.get('x-cache')).toBe('HIT');

    const updated = await graph.query<any>(
      updatePrice,
      { productId: product.id, price: { centAmount: 4_242, currencyCode: 'USD' } },
      headers.admin,
    );
    expect(updated.body.errors).toBeUndefined();
    expect(updated.body.data.updateProductPrice.product.price).toEqual({ centAmount: 4_242, currencyCode: 'USD' });

    const after = await graph.query<any>(productQuery, { id: product.id });
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(after.body.data.product.price.centAmount).toBe(4_242);
  });

  it.each([
    { case: 'a negative price', price: { centAmount: -1, currencyCode: 'USD' }, code: 'BAD_USER_INPUT' },
    { case: 'an absurd price', price: { centAmount: 2_000_000_000, currencyCode: 'USD' }, code: 'BAD_USER_INPUT' },
    { case: 'another currency', price: { centAmount: 100, currencyCode: 'EUR' }, code: 'BAD_USER_INPUT' },
  ])('refuses $case', async ({ price, code }) => {
    expect(codeOf(await graph.query(updatePrice, { productId: seedProduct(8).id, price }, headers.admin))).toBe(code);
  });

  it('answers NOT_FOUND for an unknown product', async () => {
    const response = await graph.query(
      updatePrice,
      { productId: randomUUID(), price: { centAmount: 100, currencyCode: 'USD' } },
      headers.admin,
    );
    expect(codeOf(response)).toBe('NOT_FOUND');
  });
});

describe('restock', () => {
  const product = seedProduct(9);
  const quantityNow = async () =>
    (await graph.query<any>(`query ($id: ID!) { product(id: $id) { quantity } }`, { id: product.id }, headers.admin))
      .body.data.product.quantity as number;

  it('adds every unit of concurrent restocks', async () => {
    const before = await quantityNow();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        graph.query<any>(restock, { productId: product.id, quantity: 5 }, headers.admin),
      ),
    );
    expect(responses.every((response) => response.body.errors === undefined)).toBe(true);
    expect(await quantityNow()).toBe(before + 100);
  });

  it('refuses a shopper, and quantities outside 1 to 100,000', async () => {
    expect(codeOf(await graph.query(restock, { productId: product.id, quantity: 1 }, headers.shopper))).toBe(
      'FORBIDDEN',
    );
    for (const quantity of [0, -5, 100_001])
      expect(codeOf(await graph.query(restock, { productId: product.id, quantity }, headers.admin))).toBe(
        'BAD_USER_INPUT',
      );
  });
});
