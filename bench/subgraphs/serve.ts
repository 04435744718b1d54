/**
 * Serves the four benchmark subgraphs from one process, each on its own
 * port on 127.0.0.1, and reports the ports to the runner over IPC.
 *
 * The subgraphs must cost almost nothing, so that the gateway is the
 * bottleneck: each answer is computed once and then served from a cache
 * keyed by the request body (gateways send identical bodies for identical
 * plans; the Authorization header differs per request and is ignored).
 * Every answer carries `Cache-Control: public, max-age=60`, the hint a
 * router's response cache needs before it may cache the heavy query.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLSchema } from 'graphql';
import { answerControlRequests, type ReadyMessage, type RequestCounts } from '../lib/control.ts';
import { graphql } from '../lib/root-graphql.ts';
import { benchSubgraphNames, resolvers, type BenchSubgraphName } from './resolvers.ts';

const counts: RequestCounts = Object.fromEntries(benchSubgraphNames.map((name) => [name, 0]));
/** Artificial latency per request, set by the runner for the delayed workload. */
let delayMs = 0;

const answerHeaders = { 'content-type': 'application/json', 'cache-control': 'public, max-age=60' };

const { execute, parse } = graphql;

function schemaOf(name: BenchSubgraphName): GraphQLSchema {
  const typeDefs = parse(readFileSync(new URL(`./${name}.graphql`, import.meta.url), 'utf8'));
  return buildSubgraphSchema({ typeDefs, resolvers: resolvers[name] as never });
}

function serve(name: BenchSubgraphName) {
  const schema = schemaOf(name);
  const answers = new Map<string, Buffer>();

  /** Executes a request not seen before and keeps its answer; two racing first requests both compute, harmlessly. */
  const compute = async (body: string): Promise<Buffer> => {
    const { query, variables, operationName } = JSON.parse(body) as {
      query: string;
      variables?: Record<string, unknown>;
      operationName?: string;
    };
    // Entity resolution goes through promises even with synchronous resolvers, hence the await.
    const result = await execute({ schema, document: parse(query), variableValues: variables, operationName });
    const payload = Buffer.from(JSON.stringify(result));
    answers.set(body, payload);
    return payload;
  };

  const send = (response: ServerResponse, status: number, payload: Buffer) => {
    response.writeHead(status, { ...answerHeaders, 'content-length': payload.length });
    response.end(payload);
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== 'POST') return send(response, 200, Buffer.from('{"status":"ok"}'));
    counts[name]!++;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, payload: Buffer) => {
        if (delayMs > 0) setTimeout(() => send(response, status, payload), delayMs);
        else send(response, status, payload);
      };
      const body = Buffer.concat(chunks).toString('utf8');
      // A hit answers synchronously: no promise, no tick, as close to free as a subgraph gets.
      const cached = answers.get(body);
      if (cached) return reply(200, cached);
      compute(body).then(
        (payload) => reply(200, payload),
        (error: unknown) =>
          reply(400, Buffer.from(JSON.stringify({ errors: [{ message: (error as Error).message }] }))),
      );
    });
  });
  // Gateways keep pools of connections; a short idle timeout would make them reconnect mid-run.
  server.keepAliveTimeout = 60_000;
  return new Promise<[BenchSubgraphName, number]>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve([name, (server.address() as AddressInfo).port])),
  );
}

const ports = Object.fromEntries(await Promise.all(benchSubgraphNames.map(serve)));
answerControlRequests({
  counts: () => ({ ...counts }),
  delay: (ms) => {
    delayMs = ms;
  },
});
process.send?.({ type: 'ready', ports } satisfies ReadyMessage);
// Stopped by the runner with SIGTERM; nothing to drain, so the default exit is right.
