import { createServer, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.ts';
import { close, createHttpService, listen } from '../src/http/server.ts';
import { createLogger } from '../src/logger.ts';
import { Metrics, type MetricsContext } from '../src/metrics.ts';
import { startTracing, tracingConfigFromEnv } from '../src/tracing.ts';

describe('tracing configuration from the environment', () => {
  it('is off without an endpoint, named after the service and sampled parent-based', () => {
    expect(tracingConfigFromEnv('products', {})).toEqual({
      serviceName: 'products',
      tracesUrl: null,
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
    });
  });

  it('appends /v1/traces to the base endpoint, and takes the traces endpoint as it is, first', () => {
    expect(tracingConfigFromEnv('router', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracesUrl).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      tracingConfigFromEnv('router', { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.com/tenant/' }).tracesUrl,
    ).toBe('https://otel.example.com/tenant/v1/traces');
    expect(
      tracingConfigFromEnv('router', {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/ingest',
      }).tracesUrl,
    ).toBe('http://traces:9999/ingest');
  });

  it('reads the service name and the sampler; an empty variable counts as unset', () => {
    expect(
      tracingConfigFromEnv('router', {
        OTEL_EXPORTER_OTLP_ENDPOINT: '',
        OTEL_SERVICE_NAME: 'shop-router',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }),
    ).toEqual({ serviceName: 'shop-router', tracesUrl: null, sampler: 'parentbased_traceidratio', samplerRatio: 0.25 });
  });

  it('is off when the SDK is disabled, endpoint or not', () => {
    expect(
      tracingConfigFromEnv('router', {
        OTEL_SDK_DISABLED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      }).tracesUrl,
    ).toBeNull();
  });

  it('names each variable that is wrong', () => {
    const read = () =>
      tracingConfigFromEnv('router', {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '1.5',
      });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT: expected an http\(s\) URL/);
    expect(read).toThrow(/OTEL_TRACES_SAMPLER: expected one of always_on/);
    expect(read).toThrow(/OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1/);
  });
});

interface Received {
  path: string;
  contentType: string | undefined;
  body: OtlpTraces;
}

/** The parts of an OTLP/HTTP JSON export the assertions read. */
interface OtlpTraces {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans: Array<{
      spans: Array<{
        name: string;
        kind: number;
        traceId: string;
        parentSpanId?: string;
        attributes: Array<{ key: string; value: { intValue?: number; stringValue?: string } }>;
      }>;
    }>;
  }>;
}

/** A stand-in collector: records every POST and answers as a collector does. */
async function startCollector(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      received.push({
        path: incoming.url ?? '',
        contentType: incoming.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces,
      });
      outgoing.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const { url } = await listen(server, 0, '127.0.0.1');
  return { url, received, server };
}

describe('tracing to an OTLP endpoint', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('registers nothing without an endpoint', () => {
    const tracing = startTracing(tracingConfigFromEnv('router', {}));
    expect(tracing.enabled).toBe(false);
  });

  it('exports the server span of a request to the endpoint from the environment, once flushed', async () => {
    const collector = await startCollector();
    cleanup.push(() => close(collector.server));
    const tracing = startTracing(
      tracingConfigFromEnv('shop-test', {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_SERVICE_NAME: 'tracing-test',
      }),
    );
    expect(tracing.enabled).toBe(true);
    cleanup.push(() => tracing.shutdown());

    // With the metrics plugin, which names the operation for the span as for the request metric.
    const apollo = new ApolloServer<MetricsContext>({
      typeDefs: 'type Query { hello: String }',
      resolvers: { Query: { hello: () => 'hi' } },
      plugins: [new Metrics().plugin()],
    });
    await apollo.start();
    cleanup.push(() => apollo.stop());
    const server = createHttpService({
      logger: createLogger({ service: 'tracing-test', level: 'silent' }),
      graphql: (httpGraphQLRequest, _incoming, observed) =>
        apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => ({ observed }) }),
      readiness: async () => ({}),
    });
    const { url, port } = await listen(server, 0, '127.0.0.1');
    cleanup.push(() => close(server));
    const clientTrace = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        traceparent: `00-${clientTrace.traceId}-${clientTrace.spanId}-01`,
      },
      body: JSON.stringify({ query: 'query Greeting { hello }' }),
    });
    expect(response.status).toBe(200);

    // Batched: nothing need have gone yet; shutting down sends what is buffered.
    await tracing.shutdown();
    const exports = collector.received.filter((entry) => entry.path === '/v1/traces');
    expect(exports.length).toBeGreaterThan(0);
    expect(exports[0]!.contentType).toMatch(/^application\/json/);
    const resourceSpans = exports.flatMap((entry) => entry.body.resourceSpans);
    expect(resourceSpans[0]!.resource.attributes).toContainEqual({
      key: 'service.name',
      value: { stringValue: 'tracing-test' },
    });
    const spans = resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans));
    const serverSpan = spans.find((span) => span.name === 'POST /graphql');
    expect(serverSpan).toBeDefined();
    // SPAN_KIND_SERVER, in the client's trace, under the client's span.
    expect(serverSpan!.kind).toBe(2);
    expect(serverSpan!.traceId).toBe(clientTrace.traceId);
    expect(serverSpan!.parentSpanId).toBe(clientTrace.spanId);
    expect(serverSpan!.attributes).toEqual(
      expect.arrayContaining([
        { key: 'http.response.status_code', value: { intValue: 200 } },
        { key: 'graphql.operation.name', value: { stringValue: 'Greeting' } },
        { key: 'server.port', value: { intValue: port } },
      ]),
    );
  });
});
