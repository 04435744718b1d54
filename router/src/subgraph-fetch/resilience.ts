import { setTimeout as sleep } from 'node:timers/promises';
import { GraphQLError } from 'graphql';
import CircuitBreaker from 'opossum';
import { ErrorCode } from '../../../platform/src/errors.ts';
import type { Logger } from '../../../platform/src/logger.ts';

/** Why a request to a subgraph got no usable answer. */
export type SubgraphFetchFailure = 'timeout' | 'network' | 'status';

/**
 * How the router treats one subgraph that is slow or failing. Every field
 * can be set for all subgraphs (`SUBGRAPH_TIMEOUT_MS`) and for one
 * (`SUBGRAPH_OVERRIDES={"inventory":{"timeoutMs":2000}}`); see router/src/config.ts.
 */
export interface SubgraphPolicy {
  /**
   * Longest a fetch may take, from sending to the whole answer read, retries
   * and their pauses included: a fetch never outlives it. Default: 5 s.
   */
  timeoutMs: number;
  /**
   * Further attempts of a query after a connection error or a 502, 503 or
   * 504, while the timeout leaves time. Never for a mutation, a timeout, any
   * other status or a GraphQL response with errors. Default: 2.
   */
  retries: number;
  /** Pause before the first retry, doubled for each next one, with ±25 % jitter. Default: 50 ms. */
  retryDelayMs: number;
  /** Share of failed requests in the window above which the breaker opens; 100 never opens it. Default: 50. */
  breakerErrorPercent: number;
  /** Requests (sent or refused) the window must hold before the breaker may open. Default: 10. */
  breakerMinRequests: number;
  /** The rolling window failures are counted over. Default: 10 s. */
  breakerWindowMs: number;
  /** How long an open breaker refuses everything before letting one trial request through. Default: 3 s. */
  breakerResetMs: number;
}

export const defaultSubgraphPolicy: SubgraphPolicy = {
  timeoutMs: 5_000,
  retries: 2,
  retryDelayMs: 50,
  breakerErrorPercent: 50,
  breakerMinRequests: 10,
  breakerWindowMs: 10_000,
  // Short, so a restarted subgraph gets its traffic back within seconds; a trial costs one request.
  breakerResetMs: 3_000,
};

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface ResilienceObserver {
  /** A fetch refused without sending anything, because the subgraph's breaker is open. */
  rejected(subgraph: string): void;
  /** The subgraph's breaker changed state; also told `closed` when it is created. */
  circuitChanged(subgraph: string, state: CircuitState): void;
}

/**
 * One HTTP request to a subgraph that got no usable answer, for reasons of
 * the subgraph's health: what the breaker counts and retries look at. Its
 * message, with the subgraph's address, is for the log only.
 */
export class SubgraphRequestError extends Error {
  override name = 'SubgraphRequestError';
  constructor(
    readonly failure: SubgraphFetchFailure,
    message: string,
    /** The HTTP status, for `failure: 'status'`. */
    readonly status: number | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Statuses that say "try again": a proxy or the subgraph had no answer this time. */
const retryableStatuses = new Set([502, 503, 504]);

/**
 * A subgraph's timeout, retries and circuit breaker, around each fetch to
 * it. The breaker sees every HTTP attempt: failures are timeouts,
 * connection errors and 5xx answers; anything else (a 4xx, a GraphQL
 * response with errors) is a working subgraph.
 */
export class Resilience {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;

  constructor(
    private readonly subgraph: string,
    private readonly policy: SubgraphPolicy,
    { logger = null, observer = null }: { logger?: Logger | null; observer?: ResilienceObserver | null } = {},
  ) {
    this.breaker = new CircuitBreaker((attempt: () => Promise<unknown>) => attempt(), {
      name: subgraph,
      // The deadline is ours (run()): it aborts the request, which opossum's timeout would not.
      timeout: false,
      errorThresholdPercentage: policy.breakerErrorPercent,
      volumeThreshold: policy.breakerMinRequests,
      rollingCountTimeout: policy.breakerWindowMs,
      resetTimeout: policy.breakerResetMs,
      errorFilter: (error: unknown) => !(error instanceof SubgraphRequestError),
      // Latency percentiles would be sorted on every failure, and nothing reads them.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    });
    const changed = (state: CircuitState) => observer?.circuitChanged(subgraph, state);
    this.breaker.on('open', () => {
      logger?.warn(
        { subgraph, retryInMs: policy.breakerResetMs },
        'subgraph circuit opened: requests to it fail fast until a trial succeeds',
      );
      changed('open');
    });
    this.breaker.on('halfOpen', () => {
      logger?.info({ subgraph }, 'subgraph circuit half-open: sending one trial request');
      changed('half-open');
    });
    this.breaker.on('close', () => {
      logger?.info({ subgraph }, 'subgraph circuit closed: requests flow again');
      changed('closed');
    });
    this.breaker.on('reject', () => observer?.rejected(subgraph));
    changed('closed');
  }

  /**
   * Runs `attempt` until it answers, within the policy's timeout. With
   * `retry` (queries only: a mutation may have been applied however its
   * request failed), a retryable failure is tried again after a jittered
   * pause, as long as the pause ends before the deadline. A failure ends as
   * SUBGRAPH_TIMEOUT or SUBGRAPH_UNAVAILABLE; any other error (a 4xx, a
   * bug) is thrown as it is.
   */
  async run<T>(attempt: (signal: AbortSignal) => Promise<T>, { retry }: { retry: boolean }): Promise<T> {
    const { timeoutMs, retries, retryDelayMs } = this.policy;
    const deadline = performance.now() + timeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      for (let attempted = 1; ; attempted++) {
        try {
          return (await this.breaker.fire(() => attempt(controller.signal))) as T;
        } catch (error) {
          // Refused by the breaker (open, or half-open with its trial in flight): nothing was sent.
          if (error instanceof Error && CircuitBreaker.isOurError(error)) throw unavailable(this.subgraph, error);
          if (!(error instanceof SubgraphRequestError)) throw error;
          // A timeout has spent the whole budget: there is nothing left to retry with.
          if (error.failure === 'timeout') throw timedOut(this.subgraph, error);
          const pause = retryDelayMs * 2 ** (attempted - 1) * (0.75 + Math.random() * 0.5);
          const retryable = error.failure === 'network' || retryableStatuses.has(error.status ?? 0);
          if (!retry || !retryable || attempted > retries || performance.now() + pause >= deadline)
            throw unavailable(this.subgraph, error);
          await sleep(pause);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the breaker's timers; fetches after this fail. */
  close(): void {
    this.breaker.shutdown();
  }
}

/*
 * The messages name the subgraph and nothing of its address. Outside
 * production they reach clients as they are; in production the errors
 * plugin rewords them without the subgraph's name. The cause, with the
 * address, goes to the log (and to development stack traces) as the
 * original error.
 */

function timedOut(subgraph: string, cause: unknown): GraphQLError {
  return new GraphQLError(`The ${subgraph} subgraph did not answer in time. Try again shortly.`, {
    originalError: cause as Error,
    extensions: { code: ErrorCode.SubgraphTimeout, subgraph },
  });
}

function unavailable(subgraph: string, cause: unknown): GraphQLError {
  return new GraphQLError(`The ${subgraph} subgraph is unavailable. Try again shortly.`, {
    originalError: cause as Error,
    extensions: { code: ErrorCode.SubgraphUnavailable, subgraph },
  });
}

/**
 * The policies of a graph's subgraphs: `all` for every one, then
 * overrides keyed by the subgraph's env prefix (`INVENTORY`).
 */
export interface SubgraphPolicies {
  /** For every subgraph. */
  all?: Partial<SubgraphPolicy>;
  /** For one subgraph, by its name in the supergraph (`reviews`), over `all`. */
  bySubgraph?: Record<string, Partial<SubgraphPolicy>>;
}
