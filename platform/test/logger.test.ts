import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { createLogger, withRequestLogFields } from '../src/logger.ts';
import { startTracing, tracer } from '../src/tracing.ts';

/** A logger whose JSON lines the test reads, as written. */
function capturedLogger() {
  const written: string[] = [];
  const logger = createLogger({
    service: 'logger-test',
    level: 'debug',
    destination: { write: (line: string) => void written.push(line) },
  });
  return { logger, written, lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLW9mLWEtdG9rZW4';

describe('log redaction', () => {
  it('hides credentials wherever a logged object holds them', () => {
    const { logger, written, lines } = capturedLogger();
    logger.info(
      {
        req: {
          headers: {
            authorization: `Bearer ${jwt}`,
            cookie: 'session=cookie-value',
            'x-verified-identity': 'signed-identity-value',
            'content-type': 'application/json',
          },
        },
        config: {
          identitySecret: 'identity-secret-value',
          authentication: { keys: { kind: 'secret', secret: 'jwt-secret-value' } },
          responseCache: { purgeToken: 'purge-token-value' },
        },
        password: 'top-level-password',
        token: 'top-level-token',
      },
      'request with credentials',
    );
    for (const secret of [
      jwt,
      'cookie-value',
      'signed-identity-value',
      'identity-secret-value',
      'jwt-secret-value',
      'purge-token-value',
      'top-level-password',
      'top-level-token',
    ])
      expect(written.join('\n')).not.toContain(secret);
    const [line] = lines() as Array<{ req: { headers: Record<string, string> } }>;
    expect(line!.req.headers).toEqual({
      authorization: '[redacted]',
      cookie: '[redacted]',
      'x-verified-identity': '[redacted]',
      'content-type': 'application/json',
    });
  });

  it('hides the password of a connection string and keeps where it points', () => {
    const { logger, written, lines } = capturedLogger();
    logger.info(
      {
        database: { kind: 'postgres', url: 'postgres://shop:hunter2@db.internal:5432/products' },
        redisUrl: 'redis://:redis-password@redis:6379',
        config: { databaseUrl: 'postgresql://reader:p%40ss@replica/products?sslmode=require' },
        url: 'http://127.0.0.1:4000/graphql',
      },
      'connections',
    );
    for (const secret of ['hunter2', 'redis-password', 'p%40ss']) expect(written.join('\n')).not.toContain(secret);
    expect(lines()[0]).toMatchObject({
      database: { url: 'postgres://shop:[redacted]@db.internal:5432/products' },
      redisUrl: 'redis://:[redacted]@redis:6379',
      config: { databaseUrl: 'postgresql://reader:[redacted]@replica/products?sslmode=require' },
      url: 'http://127.0.0.1:4000/graphql',
    });
  });
});

describe('request fields on log lines', () => {
  it('reach lines logged deep in the request’s async work, and no others', async () => {
    const { logger, lines } = capturedLogger();
    logger.info('before');
    await withRequestLogFields({ requestId: 'req-1' }, async () => {
      await nextTurn();
      await Promise.all([
        sleep(5).then(() => logger.info('in a timer')),
        Promise.resolve().then(() => logger.child({ component: 'loader' }).info('in a child logger')),
      ]);
    });
    logger.info('after');
    const byMessage = Object.fromEntries(lines().map((line) => [line.msg, line]));
    expect(byMessage['in a timer']).toMatchObject({ requestId: 'req-1' });
    expect(byMessage['in a child logger']).toMatchObject({ requestId: 'req-1', component: 'loader' });
    expect(byMessage.before).not.toHaveProperty('requestId');
    expect(byMessage.after).not.toHaveProperty('requestId');
    // Tracing is off: no trace id to give.
    for (const line of lines()) expect(line).not.toHaveProperty('traceId');
  });

  it('carry the trace and span ids of the active span when tracing is on', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing(
      { serviceName: 'logger-test', tracesUrl: null, sampler: 'parentbased_always_on', samplerRatio: 1 },
      { spanProcessors: [new SimpleSpanProcessor(exporter)] },
    );
    try {
      const { logger, lines } = capturedLogger();
      const ids = await withRequestLogFields({ requestId: 'req-2' }, () =>
        tracer().startActiveSpan('work', async (span) => {
          await nextTurn();
          logger.info('traced');
          span.end();
          return span.spanContext();
        }),
      );
      logger.info('untraced');
      const [traced, untraced] = lines();
      expect(traced).toMatchObject({ requestId: 'req-2', traceId: ids.traceId, spanId: ids.spanId });
      expect(untraced).not.toHaveProperty('traceId');
    } finally {
      await tracing.shutdown();
    }
  });
});
