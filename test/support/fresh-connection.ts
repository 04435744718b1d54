import { request } from 'node:http';

/** What happened to one request sent on a connection of its own. */
export interface FreshConnectionOutcome {
  /** The TCP connection was established: the server (or its kernel) accepted it. */
  connected: boolean;
  /** The response status; null when no response came. */
  status: number | null;
  body: string;
  /** The error's code when no complete response came (`ECONNREFUSED`, `ECONNRESET`…); null otherwise. */
  error: string | null;
  startedAt: number;
  endedAt: number;
}

/**
 * POSTs `body` as JSON on a new TCP connection, closed after the response
 * (no agent, `connection: close`), as a client arriving for the first time
 * does. Never rejects: the outcome says how far the request got.
 */
export function postOnFreshConnection(url: string, body: unknown): Promise<FreshConnectionOutcome> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    let connected = false;
    const finish = (status: number | null, text: string, error: string | null) =>
      resolve({ connected, status, body: text, error, startedAt, endedAt: Date.now() });
    const outgoing = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', connection: 'close' },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => finish(response.statusCode ?? null, text, null));
        response.on('error', (error: NodeJS.ErrnoException) =>
          finish(response.statusCode ?? null, text, error.code ?? error.message),
        );
      },
    );
    outgoing.on('socket', (socket) => socket.once('connect', () => (connected = true)));
    outgoing.on('error', (error: NodeJS.ErrnoException) => finish(null, '', error.code ?? error.message));
    outgoing.end(JSON.stringify(body));
  });
}
