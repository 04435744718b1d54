import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { context, trace, type SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { close, listen } from '../../platform/src/http/server.ts';
import { startTracing, tracer, type Tracing } from '../../platform/src/tracing.ts';
import { SubgraphFetch, type SubgraphFetchContext } from '../src/subgraph-fetch/index.ts';

/**
 * What the router tells a subgraph about the client request a fetch is
 * for: its id and its trace context, even when fetches queued by several
 * requests in one tick are sent from one setImmediate.
 */

let tracing: Tracing;
let server: Server;
let fetcher: SubgraphFetch;
const received: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  tracing = startTracing(
    { serviceName: 'subgraph-fetch-test', tracesUrl: null, sampler: 'parentbased_always_on', samplerRatio: 1 },
    { spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] },
  );
  server = createServer((incoming, outgoing) => {
    received.push(incoming.headers);
    incoming.resume().on('end', () => {
      outgoing.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"hello":"hi"}}');
    });
  });
  const { url } = await listen(server, 0, '127.0.0.1');
  fetcher = new SubgraphFetch({ name: 'greetings', url: `${url}/graphql` });
});

afterAll(async () => {
  await fetcher?.close();
  if (server) await close(server);
  await tracing?.shutdown();
});

/** One client request's fetch, as the gateway makes it inside its `gateway.fetch` span. */
function fetchFor(requestId: string, query: string): { spanContext: SpanContext; done: Promise<unknown> } {
  const span = tracer().startSpan(`gateway.fetch ${requestId}`);
  const options = {
    kind: 'incoming operation',
    request: { query, variables: {} },
    // Each client request has a context of its own; fetches are grouped by it.
    incomingRequestContext: {},
    context: { identity: null, requestId },
  } as unknown as GraphQLDataSourceProcessOptions<SubgraphFetchContext>;
  const done = context.with(trace.setSpan(context.active(), span), () => fetcher.process(options));
  return { spanContext: span.spanContext(), done: done.finally(() => span.end()) };
}

describe('a subgraph fetch', () => {
  it('carries the id and the trace context of the request it is for, when two requests queue in one tick', async () => {
    // Different queries: identical ones in flight together would be sent once, for both.
    const first = fetchFor('request-1', '{ hello }');
    const second = fetchFor('request-2', 'query { hello }');
    await Promise.all([first.done, second.done]);

    expect(received).toHaveLength(2);
    for (const [requestId, { spanContext }] of [
      ['request-1', first],
      ['request-2', second],
    ] as const) {
      const headers = received.find((candidate) => candidate['x-request-id'] === requestId);
      expect(headers, requestId).toBeDefined();
      expect(headers!.traceparent).toBe(`00-${spanContext.traceId}-${spanContext.spanId}-01`);
    }
  });
});
