import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubgraphFetchContext } from '../src/subgraph-fetch/index.ts';
import { startHeaderRecordingSubgraph } from './support/header-recording-subgraph.ts';

/**
 * Without tracing the router keeps no async context at all: a fetch learns
 * its client request's id from the request's context, and still sends each
 * request's own when fetches of several requests leave in one tick.
 */

let subgraph: Awaited<ReturnType<typeof startHeaderRecordingSubgraph>>;

beforeAll(async () => {
  subgraph = await startHeaderRecordingSubgraph();
});

afterAll(async () => {
  await subgraph?.stop();
});

function fetchFor(requestId: string | undefined, query: string): Promise<unknown> {
  return subgraph.fetcher.process({
    kind: 'incoming operation',
    request: { query, variables: {} },
    incomingRequestContext: {},
    context: { identity: null, requestId },
  } as unknown as GraphQLDataSourceProcessOptions<SubgraphFetchContext>);
}

describe('a subgraph fetch, untraced', () => {
  it("sends the id of the request it is for, each its own when two requests' fetches leave in one tick", async () => {
    subgraph.received.length = 0;
    await Promise.all([fetchFor('request-a', '{ hello }'), fetchFor('request-b', 'query { hello }')]);
    expect(subgraph.received.map((headers) => headers['x-request-id']).sort()).toEqual(['request-a', 'request-b']);
  });

  it('sends no request id for a fetch made outside a client request', async () => {
    subgraph.received.length = 0;
    await fetchFor(undefined, '{ hello }');
    expect(subgraph.received).toHaveLength(1);
    expect(subgraph.received[0]).not.toHaveProperty('x-request-id');
  });
});
