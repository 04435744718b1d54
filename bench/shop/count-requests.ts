/**
 * Preloaded into the shop's own subgraph processes (`--import`) so the bench
 * can count the requests they receive without a proxy in between and
 * without touching their code: Node announces every incoming HTTP request
 * on a diagnostics channel, and the count goes to the runner over IPC.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { answerControlRequests } from '../lib/control.ts';

let graphqlRequests = 0;
subscribe('http.server.request.start', (message) => {
  const { request } = message as { request: IncomingMessage };
  // Health probes are not traffic the gateway caused.
  if (request.method === 'POST') graphqlRequests++;
});

answerControlRequests({ counts: () => ({ [process.argv[2] ?? 'subgraph']: graphqlRequests }) });
