import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.ts';
import { subgraphConfigFromEnv } from '../src/subgraph/config.ts';
import type { Logger } from '../src/logger.ts';
import { routerConfigFrom } from '../../router/src/config.ts';
import { warnOfUnknownVariables } from '../src/config/fragment.ts';

describe('subgraph configuration', () => {
  it('uses embedded PGlite in DATA_DIR when no database URL is set, and migrates and seeds in development', () => {
    const config = subgraphConfigFromEnv('products', 4002, { DATA_DIR: '/tmp/shop' });
    expect(config).toMatchObject({
      port: 4002,
      host: '127.0.0.1',
      database: { kind: 'pglite', dataDir: '/tmp/shop/products' },
      migrateOnStart: true,
      seedIfEmpty: 'small',
    });
  });

  it('reads only its own prefixed variables', () => {
    const config = subgraphConfigFromEnv('products', 4002, {
      PRODUCTS_PORT: '5002',
      PRODUCTS_DATABASE_URL: 'postgres://shop@db/products',
      ACCOUNTS_DATABASE_URL: 'postgres://shop@db/accounts',
      PORT: '9999',
      DATABASE_URL: 'postgres://shop@db/wrong',
    });
    expect(config.port).toBe(5002);
    expect(config.database).toEqual({
      kind: 'postgres',
      url: 'postgres://shop@db/products',
      poolMax: 10,
      statementTimeoutMs: 10_000,
      idleInTransactionTimeoutMs: 10_000,
    });
  });

  it('neither migrates nor seeds at start in production unless asked', () => {
    expect(subgraphConfigFromEnv('orders', 4005, { NODE_ENV: 'production' })).toMatchObject({
      migrateOnStart: false,
      seedIfEmpty: null,
    });
    expect(
      subgraphConfigFromEnv('orders', 4005, {
        NODE_ENV: 'production',
        MIGRATE_ON_START: 'true',
        SEED_IF_EMPTY: 'scale',
      }),
    ).toMatchObject({ migrateOnStart: true, seedIfEmpty: 'scale' });
  });

  it('fails fast, naming each bad variable by its real name', () => {
    const parse = () =>
      subgraphConfigFromEnv('reviews', 4004, {
        REVIEWS_PORT: 'eighty',
        REVIEWS_DATABASE_URL: 'mysql://x',
        NODE_ENV: 'prod',
      });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/REVIEWS_PORT: expected a port number/);
    expect(parse).toThrow(/REVIEWS_DATABASE_URL: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(parse).toThrow(/NODE_ENV: .*"development"\|"production"\|"test"/);
  });

  it.each(['', ' ', '0x10', '4.5', '-1', '70000'])('refuses the port %j instead of guessing', (port) => {
    expect(() => subgraphConfigFromEnv('products', 4002, { PRODUCTS_PORT: port })).toThrow(
      /PRODUCTS_PORT: expected a port/,
    );
  });
});

describe('router configuration', () => {
  it('takes --supergraph and --port over the environment', () => {
    const config = routerConfigFrom(['--supergraph', 'other.graphql', '--port', '4100'], {
      SUPERGRAPH_PATH: 'schema/supergraph.graphql',
      ROUTER_PORT: '4000',
    });
    expect(config.supergraphPath).toMatch(/other\.graphql$/);
    expect(config.port).toBe(4100);
  });

  it('collects subgraph URL overrides by env prefix', () => {
    const config = routerConfigFrom([], {
      ACCOUNTS_SUBGRAPH_URL: 'http://accounts:4001/graphql',
      GIFT_CARDS_SUBGRAPH_URL: 'https://gift-cards.internal/graphql',
    });
    expect(config.subgraphUrls).toEqual({
      ACCOUNTS: 'http://accounts:4001/graphql',
      GIFT_CARDS: 'https://gift-cards.internal/graphql',
    });
  });

  it('rejects a subgraph URL that is not http(s)', () => {
    expect(() => routerConfigFrom([], { ORDERS_SUBGRAPH_URL: 'file:///etc/passwd' })).toThrow(ConfigError);
  });

  it('gives every subgraph a timeout, retries and a breaker, each overridable for one subgraph', () => {
    expect(routerConfigFrom([], {}).subgraphPolicy).toEqual({
      all: {
        timeoutMs: 5_000,
        retries: 2,
        retryDelayMs: 50,
        breakerErrorPercent: 50,
        breakerMinRequests: 10,
        breakerWindowMs: 10_000,
        breakerResetMs: 3_000,
      },
      bySubgraph: {},
    });
    const config = routerConfigFrom([], {
      SUBGRAPH_TIMEOUT_MS: '2000',
      SUBGRAPH_BREAKER_RESET_MS: '1000',
      SUBGRAPH_OVERRIDES: JSON.stringify({ inventory: { timeoutMs: 800 }, orders: { retries: 0 } }),
      ACCOUNTS_SUBGRAPH_URL: 'http://accounts:4001/graphql',
    });
    expect(config.subgraphPolicy.all).toMatchObject({ timeoutMs: 2_000, breakerResetMs: 1_000, retries: 2 });
    expect(config.subgraphPolicy.bySubgraph).toEqual({ inventory: { timeoutMs: 800 }, orders: { retries: 0 } });
  });

  it('names the subgraph setting that is wrong, global or per subgraph', () => {
    expect(() => routerConfigFrom([], { SUBGRAPH_TIMEOUT_MS: 'soon' })).toThrow(/SUBGRAPH_TIMEOUT_MS:/);
    expect(() =>
      routerConfigFrom([], { SUBGRAPH_OVERRIDES: JSON.stringify({ reviews: { breakerErrorPercent: 150 } }) }),
    ).toThrow(/SUBGRAPH_OVERRIDES\.reviews\.breakerErrorPercent:/);
    expect(() => routerConfigFrom([], { SUBGRAPH_OVERRIDES: JSON.stringify({ orders: { retries: -1 } }) })).toThrow(
      ConfigError,
    );
  });

  it('refuses an override for a subgraph or a setting that does not exist, by name', () => {
    expect(() => routerConfigFrom([], { SUBGRAPH_OVERRIDES: JSON.stringify({ reveiws: { retries: 0 } }) })).toThrow(
      /SUBGRAPH_OVERRIDES.*reveiws is not a subgraph/,
    );
    expect(() => routerConfigFrom([], { SUBGRAPH_OVERRIDES: JSON.stringify({ reviews: { timeout: 100 } }) })).toThrow(
      /SUBGRAPH_OVERRIDES\.reviews: .*"timeout"/,
    );
    expect(() => routerConfigFrom([], { SUBGRAPH_OVERRIDES: '{reviews: 1}' })).toThrow(
      /SUBGRAPH_OVERRIDES: expected JSON/,
    );
    // The variables it replaces are refused, with the form that replaces them.
    expect(() => routerConfigFrom([], { REVIEWS_SUBGRAPH_TIMEOUT_MS: '800' })).toThrow(
      /REVIEWS_SUBGRAPH_TIMEOUT_MS: per-subgraph settings moved to SUBGRAPH_OVERRIDES/,
    );
  });

  it('reports a variable with a known prefix that nothing reads, with the name it likely means', () => {
    const config = routerConfigFrom([], { ROUTER_PROT: '4100', RATE_LIMIT_POINT: '5', PATH: '/usr/bin' });
    expect(config.unknownVariables).toEqual([
      { variable: 'RATE_LIMIT_POINT', suggestion: 'RATE_LIMIT_POINTS' },
      { variable: 'ROUTER_PROT', suggestion: 'ROUTER_PORT' },
    ]);
    const warnings: Array<{ variable: unknown; message: string }> = [];
    warnOfUnknownVariables(
      {
        warn: (fields: { variable: unknown }, message: string) => warnings.push({ variable: fields.variable, message }),
      } as unknown as Logger,
      config.unknownVariables,
    );
    expect(warnings).toContainEqual({
      variable: 'ROUTER_PROT',
      message: 'ROUTER_PROT is not a known variable; did you mean ROUTER_PORT?',
    });
  });

  it('shares its cache through Redis only when given a redis URL', () => {
    expect(routerConfigFrom([], {})).toMatchObject({ redisUrl: null, persistedQueryTtlSeconds: 86_400 });
    expect(routerConfigFrom([], { REDIS_URL: 'rediss://cache:6380/0', APQ_TTL_SECONDS: '600' })).toMatchObject({
      redisUrl: 'rediss://cache:6380/0',
      persistedQueryTtlSeconds: 600,
    });
    expect(() => routerConfigFrom([], { REDIS_URL: 'http://cache:6379' })).toThrow(/REDIS_URL: expected a redis:\/\//);
  });

  it('rejects an unknown flag instead of ignoring it', () => {
    expect(() => routerConfigFrom(['--supergrpah', 'x'], {})).toThrow(/Unknown option/);
  });
});
