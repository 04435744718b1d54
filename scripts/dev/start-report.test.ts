import { describe, expect, it } from 'vitest';
import { productionPreflight } from './production.ts';
import { describeStartStep, displayPath, notReadyDetail } from './start-report.ts';

describe('describeStartStep', () => {
  const at = { elapsedMs: 12_345, env: {} };

  it('names the variable that points a waiting subgraph at its database, without credentials', () => {
    const env = { ORDERS_DATABASE_URL: 'postgres://shop:hunter2@db.internal:5432/orders' };
    const text = describeStartStep(
      'orders',
      { step: 'waiting', for: 'database', reason: 'ECONNREFUSED' },
      {
        ...at,
        env,
      },
    );
    expect(text).toBe(
      'waiting for its database at db.internal:5432/orders (ORDERS_DATABASE_URL): ECONNREFUSED; retrying',
    );
    expect(describeStartStep('orders', { step: 'waiting', for: 'redis', reason: 'ECONNREFUSED' }, at)).toBe(
      'waiting for Redis (REDIS_URL): ECONNREFUSED; retrying',
    );
  });

  it('counts a seed in rows, and says where a subgraph is ready', () => {
    expect(
      describeStartStep(
        'reviews',
        { step: 'seeding', size: 'scale', table: 'reviews', done: 40_000, total: 100_000 },
        at,
      ),
    ).toBe('seeding reviews: 40,000 of 100,000 (--scale)');
    expect(describeStartStep('reviews', { step: 'ready', url: 'http://127.0.0.1:4004/graphql' }, at)).toBe(
      'ready at http://localhost:4004/graphql (12.3 s)',
    );
  });
});

describe('displayPath', () => {
  it('shows a folder below the current one relative to it, any other in full', () => {
    expect(displayPath('/repo/.data', '/repo')).toBe('.data/');
    expect(displayPath('/tmp/shop-data', '/repo')).toBe('/tmp/shop-data');
  });
});

describe('notReadyDetail', () => {
  it('lists the failing checks of a readiness body', () => {
    expect(
      notReadyDetail({
        status: 'not ready',
        checks: { supergraph: { ok: true }, redis: { ok: false, detail: 'waiting for redis: ECONNREFUSED' } },
      }),
    ).toBe('redis: waiting for redis: ECONNREFUSED');
    expect(notReadyDetail({ status: 'ready', checks: { supergraph: { ok: true } } })).toBeNull();
    expect(notReadyDetail('not json')).toBeNull();
  });
});

describe('productionPreflight', () => {
  const names = ['accounts', 'orders'];

  it('names each missing database variable, and is fatal without one', () => {
    const { lines, fatal } = productionPreflight(names, {});
    expect(fatal).toBe(true);
    expect(lines.map(([who, what]) => `${who}: ${what}`)).toEqual([
      'accounts: needs its Postgres database: set ACCOUNTS_DATABASE_URL (postgres://user:password@host:5432/accounts)',
      'orders: needs its Postgres database: set ORDERS_DATABASE_URL (postgres://user:password@host:5432/orders)',
      expect.stringContaining('REDIS_URL is not set'),
      expect.stringContaining('AUTH_JWT_SECRET or AUTH_JWKS_URL is not set'),
      expect.stringContaining('INTERNAL_IDENTITY_SECRET is not set'),
    ]);
  });

  it('says what each subgraph waits for once everything is set', () => {
    const { lines, fatal } = productionPreflight(names, {
      ACCOUNTS_DATABASE_URL: 'postgres://shop:hunter2@db:5432/accounts',
      ORDERS_DATABASE_URL: 'postgres://shop:hunter2@db:5432/orders',
      REDIS_URL: 'redis://cache:6379',
      AUTH_JWT_SECRET: 'x'.repeat(32),
      INTERNAL_IDENTITY_SECRET: 'y'.repeat(32),
    });
    expect(fatal).toBe(false);
    expect(lines).toEqual([
      [
        'accounts',
        'waits for its database at db:5432/accounts (ACCOUNTS_DATABASE_URL), migrated beforehand by npm run db:migrate',
      ],
      [
        'orders',
        'waits for its database at db:5432/orders (ORDERS_DATABASE_URL), migrated beforehand by npm run db:migrate',
      ],
    ]);
  });
});
