import { createServer, type IncomingHttpHeaders } from 'node:http';
import { close, listen } from '../../../platform/src/http/server.ts';
import { SubgraphFetch } from '../../src/subgraph-fetch/index.ts';

/**
 * A subgraph that answers every request with `{ hello: "hi" }` and keeps
 * the headers each one came with, and a SubgraphFetch pointed at it: for
 * tests of what the router tells a subgraph about the request a fetch is for.
 */
export async function startHeaderRecordingSubgraph(): Promise<{
  fetcher: SubgraphFetch;
  received: IncomingHttpHeaders[];
  stop(): Promise<void>;
}> {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((incoming, outgoing) => {
    received.push(incoming.headers);
    incoming.resume().on('end', () => {
      outgoing.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"hello":"hi"}}');
    });
  });
  const { url } = await listen(server, 0, '127.0.0.1');
  const fetcher = new SubgraphFetch({ name: 'greetings', url: `${url}/graphql` });
  return {
    fetcher,
    received,
    async stop() {
      await fetcher.close();
      await close(server);
    },
  };
}
