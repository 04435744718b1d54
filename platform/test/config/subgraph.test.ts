import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.ts';
import { parseFragments, warnOfUnknownVariables } from '../../src/config/fragment.ts';
import { serviceEnv } from '../../src/config/service.ts';
import { createLogger } from '../../src/logger.ts';
import { parseSubgraphConfig } from '../../src/subgraph/config.ts';

describe('a subgraph’s config as a merge of fragments', () => {
  it('reads the shared service variables, its database, its tracing and its start', () => {
    const { config, unknownVariables } = parseSubgraphConfig('products', 4002, {
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      LOG_LEVEL: 'warn',
      REDIS_URL: 'redis://cache:6379',
      EVENT_STREAM_PREFIX: 'staging',
      INTERNAL_IDENTITY_SECRET: 'a'.repeat(32),
      PRODUCTS_DATABASE_URL: 'postgres://shop@db/products',
      PRODUCTS_METRICS_PORT: '9500',
      OTEL_SERVICE_NAME: 'shop-products',
    });
    expect(config).toEqual({
      nodeEnv: 'production',
      host: '0.0.0.0',
      port: 4002,
      logLevel: 'warn',
      logPretty: false,
      lifecycle: { drainMs: 5_000, shutdownTimeoutMs: 25_000, startupTimeoutMs: null },
      identitySecret: 'a'.repeat(32),
      redisUrl: 'redis://cache:6379',
      eventStreamPrefix: 'staging',
      metrics: { host: '127.0.0.1', port: 9500 },
      database: {
        kind: 'postgres',
        url: 'postgres://shop@db/products',
        poolMax: 10,
        statementTimeoutMs: 10_000,
        idleInTransactionTimeoutMs: 10_000,
      },
      migrateOnStart: false,
      seedIfEmpty: null,
      tracing: { serviceName: 'shop-products', tracesUrl: null, sampler: 'parentbased_always_on', samplerRatio: 1 },
    });
    expect(unknownVariables).toEqual([]);
  });

  it('reports a misspelled variable of its own with the name it likely means, and leaves others’ alone', () => {
    const { unknownVariables } = parseSubgraphConfig('products', 4002, {
      PRODUCTS_DATABASE_URLL: 'postgres://shop@db/products',
      PRODUCTS_PROT: '4102',
      SHUTDOWN_TIMEOUT_SECOND: '10',
      // The router's, another subgraph's, and another program's: none is a mistake.
      PRODUCTS_SUBGRAPH_URL: 'http://products:4002/graphql',
      ACCOUNTS_DATABASE_URL: 'postgres://shop@db/accounts',
      REDIS_PASSWORD: 'not ours',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=staging',
    });
    expect(unknownVariables).toEqual([
      { variable: 'PRODUCTS_DATABASE_URLL', suggestion: 'PRODUCTS_DATABASE_URL' },
      { variable: 'PRODUCTS_PROT', suggestion: 'PRODUCTS_PORT' },
      { variable: 'SHUTDOWN_TIMEOUT_SECOND', suggestion: 'SHUTDOWN_TIMEOUT_SECONDS' },
    ]);
  });

  it('logs each unknown variable as a warning at start', () => {
    const lines: Array<{ level: number; msg: string; variable: string }> = [];
    const logger = createLogger({
      service: 'products',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
    const { unknownVariables } = parseSubgraphConfig('products', 4002, { PRODUCTS_DATABASE_URLL: 'postgres://x/y' });
    warnOfUnknownVariables(logger, unknownVariables);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        variable: 'PRODUCTS_DATABASE_URLL',
        msg: 'PRODUCTS_DATABASE_URLL is not a known variable; did you mean PRODUCTS_DATABASE_URL?',
      }),
    ]);
  });
});

describe('the shared service fragment', () => {
  it('states each default once: development, loopback, info, no Redis, no prefix, a free metrics port', () => {
    const { options } = parseFragments({ service: serviceEnv() }, {});
    expect(options.service).toEqual({
      nodeEnv: 'development',
      host: '127.0.0.1',
      logLevel: 'info',
      logPretty: false,
      lifecycle: { drainMs: 0, shutdownTimeoutMs: 25_000, startupTimeoutMs: 60_000 },
      identitySecret: null,
      redisUrl: null,
      eventStreamPrefix: '',
      metrics: { host: '127.0.0.1', port: 0 },
    });
  });

  it('serves metrics on the production port plus the service’s offset, or on the variable the service names', () => {
    const router = serviceEnv();
    const products = serviceEnv({ metricsPortVariable: 'PRODUCTS_METRICS_PORT', metricsPortOffset: 2 });
    const production = { NODE_ENV: 'production' };
    expect(parseFragments({ router }, production).options.router.metrics.port).toBe(9464);
    expect(parseFragments({ products }, production).options.products.metrics.port).toBe(9466);
    expect(
      parseFragments({ products }, { ...production, PRODUCTS_METRICS_PORT: '9999' }).options.products.metrics.port,
    ).toBe(9999);
  });

  it('names every wrong variable at once, the drain that leaves the stop no time included', () => {
    const parse = () =>
      parseFragments(
        { service: serviceEnv() },
        {
          NODE_ENV: 'production',
          SHUTDOWN_TIMEOUT_SECONDS: '5',
          REDIS_URL: 'http://cache:6379',
          INTERNAL_IDENTITY_SECRET: 'short',
        },
      );
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/REDIS_URL: expected a redis:\/\//);
    expect(parse).toThrow(/INTERNAL_IDENTITY_SECRET: must be at least 32 characters/);
    expect(() =>
      parseFragments({ service: serviceEnv() }, { NODE_ENV: 'production', SHUTDOWN_TIMEOUT_SECONDS: '5' }),
    ).toThrow(/SHUTDOWN_DRAIN_SECONDS: must be less than SHUTDOWN_TIMEOUT_SECONDS/);
  });
});
