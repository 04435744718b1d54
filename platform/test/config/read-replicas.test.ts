import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.ts';
import { parseSubgraphConfig, subgraphConfigFromEnv } from '../../src/subgraph/config.ts';

/** `<NAME>_DATABASE_REPLICA_URLS` and `DB_READ_YOUR_WRITES_WINDOW_MS`, as a subgraph reads them at start. */

const primary = 'postgres://shop@db/orders';

describe('read replicas in a subgraph’s config', () => {
  it('reads the replicas of its own database, comma-separated, with the read-your-writes window at 30 s', () => {
    const config = subgraphConfigFromEnv('orders', 4005, {
      ORDERS_DATABASE_URL: primary,
      ORDERS_DATABASE_REPLICA_URLS: 'postgres://shop@replica-1/orders, postgresql://shop@replica-2:5433/orders',
      PRODUCTS_DATABASE_REPLICA_URLS: 'postgres://shop@elsewhere/products',
    });
    expect(config.database).toEqual({
      kind: 'postgres',
      url: primary,
      poolMax: 10,
      statementTimeoutMs: 10_000,
      idleInTransactionTimeoutMs: 10_000,
      replicas: {
        urls: ['postgres://shop@replica-1/orders', 'postgresql://shop@replica-2:5433/orders'],
        readYourWritesWindowMs: 30_000,
      },
    });
  });

  it('takes the window from DB_READ_YOUR_WRITES_WINDOW_MS; 0 turns read-your-writes off', () => {
    const windowOf = (value: string) => {
      const { database } = subgraphConfigFromEnv('orders', 4005, {
        ORDERS_DATABASE_URL: primary,
        ORDERS_DATABASE_REPLICA_URLS: 'postgres://shop@replica-1/orders',
        DB_READ_YOUR_WRITES_WINDOW_MS: value,
      });
      return database.kind === 'postgres' ? database.replicas?.readYourWritesWindowMs : undefined;
    };
    expect(windowOf('5000')).toBe(5_000);
    expect(windowOf('0')).toBe(0);
  });

  it('has no replicas unless they are listed', () => {
    const { database } = subgraphConfigFromEnv('orders', 4005, {
      ORDERS_DATABASE_URL: primary,
      DB_READ_YOUR_WRITES_WINDOW_MS: '5000',
    });
    expect(database).not.toHaveProperty('replicas');
  });

  it.each([
    { value: 'mysql://replica/orders', problem: /URL 1 of 1 is not one/ },
    { value: 'postgres://replica-1/orders,replica-2/orders', problem: /URL 2 of 2 is not one/ },
    { value: ' , ', problem: /expected one or more comma-separated postgres:\/\/ URLs/ },
  ])('fails fast on $value, naming the variable and which URL', ({ value, problem }) => {
    const parse = () =>
      subgraphConfigFromEnv('orders', 4005, { ORDERS_DATABASE_URL: primary, ORDERS_DATABASE_REPLICA_URLS: value });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/ORDERS_DATABASE_REPLICA_URLS: /);
    expect(parse).toThrow(problem);
  });

  it('never shows a URL it refuses, which may hold a password', () => {
    expect(() =>
      subgraphConfigFromEnv('orders', 4005, {
        ORDERS_DATABASE_URL: primary,
        ORDERS_DATABASE_REPLICA_URLS: 'mysql://shop:hunter2@replica/orders',
      }),
    ).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });

  it('refuses replicas without the primary they replicate, or the primary listed as its own replica', () => {
    expect(() =>
      subgraphConfigFromEnv('orders', 4005, { ORDERS_DATABASE_REPLICA_URLS: 'postgres://shop@replica-1/orders' }),
    ).toThrow(/ORDERS_DATABASE_REPLICA_URLS: needs ORDERS_DATABASE_URL, the primary they replicate/);
    expect(() =>
      subgraphConfigFromEnv('orders', 4005, {
        ORDERS_DATABASE_URL: primary,
        ORDERS_DATABASE_REPLICA_URLS: `postgres://shop@replica-1/orders,${primary}`,
      }),
    ).toThrow(/ORDERS_DATABASE_REPLICA_URLS: lists ORDERS_DATABASE_URL itself/);
  });

  it.each(['-1', '1.5', 'soon'])('refuses the window %j', (value) => {
    expect(() => subgraphConfigFromEnv('orders', 4005, { DB_READ_YOUR_WRITES_WINDOW_MS: value })).toThrow(
      /DB_READ_YOUR_WRITES_WINDOW_MS: /,
    );
  });

  it('reports a misspelled window variable as its own', () => {
    const { unknownVariables } = parseSubgraphConfig('orders', 4005, { DB_READ_YOUR_WRITE_WINDOW_MS: '5000' });
    expect(unknownVariables).toEqual([
      { variable: 'DB_READ_YOUR_WRITE_WINDOW_MS', suggestion: 'DB_READ_YOUR_WRITES_WINDOW_MS' },
    ]);
  });
});
