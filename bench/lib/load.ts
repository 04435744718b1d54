/**
 * Load generation with autocannon, in this process (pinned away from the
 * gateway). Measured runs are by request count, not duration: autocannon
 * then waits for every response, so the CPU and subgraph requests measured
 * over the window belong to exactly the requests counted, with none left
 * in flight. Warm-ups run for a duration instead.
 */
import autocannon from 'autocannon';
import type { Caller } from './tokens.ts';

export interface LoadRequest {
  url: string;
  /** The JSON body, the same for every request. */
  body: string;
  headers: Record<string, string>;
}

export interface LoadResult {
  completed: number;
  elapsedMs: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers with a status outside 2xx. */
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** 2xx answers whose body carries GraphQL `errors`. */
  graphqlErrors: number;
  /** The start of the first answer counted in `non2xx` or `graphqlErrors`, to say what went wrong. */
  firstFailure: string | null;
  /** Requests that had to reuse an Authorization because the pool ran out (should be 0). */
  reusedTokens: number;
}

export interface LoadOptions {
  request: LoadRequest;
  connections: number;
  /** Either so many requests, waiting for every answer, or so long. */
  stopAfter: { requests: number } | { seconds: number };
  /** One per request; see TokenPool. */
  callers: Caller[];
  /** The caller-specific headers of a request (see Callers.headers). */
  headersOf(caller: Caller): Record<string, string>;
  /** Gives up (and reports what completed) after this long, so a stuck contender cannot hang the run. */
  deadlineMs: number;
}

export async function runLoad({
  request,
  connections,
  stopAfter,
  callers,
  headersOf,
  deadlineMs,
}: LoadOptions): Promise<LoadResult> {
  let next = 0;
  let reusedTokens = 0;
  let graphqlErrors = 0;
  let firstFailure: string | null = null;
  // Most answers of a cell are the same text. One equal to an answer already
  // found clean is clean: comparing is a length check and a memcmp, where
  // searching an 88 KB answer for `errors` costs ~50 µs of this process's
  // core, enough to make the load generator, not the gateway, the limit.
  let lastClean = '';
  const started = performance.now();
  const options: autocannon.Options = {
    url: request.url,
    ...('requests' in stopAfter
      ? { amount: stopAfter.requests, connections: Math.min(connections, stopAfter.requests) }
      : { duration: stopAfter.seconds, connections }),
    method: 'POST',
    timeout: 30,
    requests: [
      {
        method: 'POST',
        body: request.body,
        headers: request.headers,
        setupRequest: (built) => {
          if (next >= callers.length) reusedTokens++;
          const caller = callers[next++ % callers.length]!;
          return { ...built, headers: { ...built.headers, ...headersOf(caller) } };
        },
        onResponse: (status, body) => {
          // Partial failures come back as 200 with `errors`; count them, they are not successes.
          if (status < 300 && body === lastClean) return;
          const graphqlError = status < 300 && body.includes('"errors":[');
          if (status < 300 && !graphqlError) lastClean = body;
          if (graphqlError) graphqlErrors++;
          if ((graphqlError || status >= 300) && firstFailure === null)
            firstFailure = `HTTP ${status}: ${body.slice(0, 300)}`;
        },
      },
    ],
  };
  let deadline: NodeJS.Timeout | undefined;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
    deadline = setTimeout(() => instance.stop(), deadlineMs);
  }).finally(() => clearTimeout(deadline));
  const elapsedMs = performance.now() - started;
  const completed = result.requests.total;
  return {
    completed,
    elapsedMs,
    requestsPerSecond: (completed * 1000) / elapsedMs,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    graphqlErrors,
    firstFailure,
    reusedTokens,
  };
}
