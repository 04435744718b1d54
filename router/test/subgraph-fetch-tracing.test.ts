import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { context, trace, type SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, tracer, type Tracing } from '../../platform/src/tracing.ts';
import type { SubgraphFetchContext } from '../src/subgraph-fetch/index.ts';
import { startHeaderRecordingSubgraph } from './support/header-recording-subgraph.ts';

/**
 * What the router tells a subgraph about the client request a fetch is
 * for: its id and its trace context, even when fetches queued by several
 * requests in one tick are sent from one setImmediate.
 */

let tracing: Tracing;
let subgraph: Awaited<ReturnType<typeof startHeaderRecordingSubgraph>>;

beforeAll(async () => {
  tracing = startTracing(
    { serviceName: 'subgraph-fetch-test', tracesUrl: null, sampler: 'parentbased_always_on', samplerRatio: 1 },
    { spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] },
  );
  subgraph = await startHeaderRecordingSubgraph();
});

afterAll(async () => {
  await subgraph?.stop();
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
  const done = context.with(trace.setSpan(context.active(), span), () => subgraph.fetcher.process(options));
  return { spanContext: span.spanContext(), done: done.finally(() => span.end()) };
}

describe('a subgraph fetch', () => {
  it('carries the id and the trace context of the request it is for, when two requests queue in one tick', async () => {
    // Different queries: identical ones in flight together would be sent once, for both.
    const first = fetchFor('request-1', '{ hello }');
    const second = fetchFor('request-2', 'query { hello }');
    await Promise.all([first.done, second.done]);

    expect(subgraph.received).toHaveLength(2);
    for (const [requestId, { spanContext }] of [
      ['request-1', first],
      ['request-2', second],
    ] as const) {
      const headers = subgraph.received.find((candidate) => candidate['x-request-id'] === requestId);
      expect(headers, requestId).toBeDefined();
      expect(headers!.traceparent).toBe(`00-${spanContext.traceId}-${spanContext.spanId}-01`);
    }
  });
});
