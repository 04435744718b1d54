import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { close, listen } from '../../platform/src/http/server.ts';
import { SubgraphFetch, type SubgraphFetchContext } from '../src/subgraph-fetch/index.ts';

/**
 * Without tracing the router keeps no async context at all: a fetch learns
 * its client request's id from the request's context, and still sends each
 * request's own when fetches of several requests leave in one tick.
 */

let server: Server;
let fetcher: SubgraphFetch;
const received: IncomingHttpHeaders[] = [];

beforeAll(async () => {
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
});

function fetchFor(requestId: string | undefined, query: string): Promise<unknown> {
  return fetcher.process({
    kind: 'incoming operation',
    request: { query, variables: {} },
    incomingRequestContext: {},
    context: { identity: null, requestId },
  } as unknown as GraphQLDataSourceProcessOptions<SubgraphFetchContext>);
}

describe('a subgraph fetch, untraced', () => {
  it("sends the id of the request it is for, each its own when two requests' fetches leave in one tick", async () => {
    received.length = 0;
    await Promise.all([fetchFor('request-a', '{ hello }'), fetchFor('request-b', 'query { hello }')]);
    expect(received.map((headers) => headers['x-request-id']).sort()).toEqual(['request-a', 'request-b']);
  });

  it('sends no request id for a fetch made outside a client request', async () => {
    received.length = 0;
    await fetchFor(undefined, '{ hello }');
    expect(received).toHaveLength(1);
    expect(received[0]).not.toHaveProperty('x-request-id');
  });
});
