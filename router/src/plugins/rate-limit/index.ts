import type { IncomingMessage } from 'node:http';
import { HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { isCluster, isRedisReady, type RedisClient } from '../../../../platform/src/cache/redis.ts';
import { clientError, errorResponse, ErrorCode, statusOf } from '../../../../platform/src/errors.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import { soleOperationName } from '../../operation-request.ts';
import type { Viewer } from '../authentication/index.ts';
import type { RouterPlugin, RouterRequest } from '../plugin.ts';

/** So many requests per window. */
export interface RateLimitRule {
  points: number;
  windowSeconds: number;
}

export interface RateLimitOptions {
  /** Every caller's allowance for any request. */
  perCaller: RateLimitRule;
  /** Stricter allowances by operation name, counted on top of the caller's. Default: none. */
  operations?: Readonly<Record<string, RateLimitRule>>;
  /**
   * Shared counters, so the limit holds across router instances: one
   * server's client or a cluster's. Null keeps them in this process. While
   * Redis fails or is slower than 200 ms, each instance counts in memory
   * instead: limits loosen, requests never fail.
   */
  redis: RedisClient | null;
  /**
   * Proxies in front of the router that append to X-Forwarded-For; the
   * client address is read that many hops from the right. Default: 0 (the
   * socket's peer: nothing in a header is trusted).
   */
  trustedProxies?: number;
  logger: Logger;
  /** Told of every refused request and which allowance refused it, for metrics. Default: none. */
  onRejected?: ((limit: 'caller' | 'operation') => void) | null;
}

/** A refused request: try again in this many seconds. */
export interface RateLimited {
  retryAfterSeconds: number;
}

/**
 * Rate limiting with rate-limiter-flexible: per verified user, or per
 * client address for anonymous callers, and optionally per operation. A
 * caller over its allowance gets 429 with Retry-After and the code
 * RATE_LIMITED, before anything else runs. Every request counts, however
 * it is answered: from the response cache, by an APQ hash, or with 401 for
 * a token that does not verify (against the client address, so tokens
 * cannot be guessed for free).
 */
export class RateLimit {
  private readonly perCaller: Allowance;
  private readonly perOperation: Map<string, Allowance>;
  private readonly trustedProxies: number;
  private readonly logger: Logger;
  private readonly onRejected: ((limit: 'caller' | 'operation') => void) | null;

  constructor({ perCaller, operations = {}, redis, trustedProxies = 0, logger, onRejected = null }: RateLimitOptions) {
    this.trustedProxies = trustedProxies;
    this.logger = logger;
    this.onRejected = onRejected;
    this.perCaller = limiter('rl:caller', perCaller, redis);
    this.perOperation = new Map(
      Object.entries(operations).map(([name, rule]) => [name, limiter(`rl:op:${name}`, rule, redis)]),
    );
  }

  /** The allowance a request draws on. */
  keyOf(viewer: Viewer | null, incoming: IncomingMessage): string {
    return viewer ? `user:${viewer.id}` : `ip:${this.clientAddress(incoming)}`;
  }

  /** Draws one request from the caller's allowance; null when it may go ahead. */
  consume(key: string): Promise<RateLimited | null> {
    return this.draw('caller', this.perCaller, key);
  }

  /** Whether any operation has an allowance of its own: only then is an operation's name worth finding. */
  get limitsOperations(): boolean {
    return this.perOperation.size > 0;
  }

  /**
   * Draws one request from the named operation's own allowance, if it has
   * one; null when it may go ahead. The one rule for every path a request
   * can take: run by Apollo Server (`plugin`), or answered from the
   * response cache, which the router does itself.
   */
  consumeOperation(key: string, operationName: string | null | undefined): Promise<RateLimited | null> {
    const allowance = operationName ? this.perOperation.get(operationName) : undefined;
    return allowance ? this.draw('operation', allowance, key) : Promise.resolve(null);
  }

  private async draw(which: 'caller' | 'operation', allowance: Allowance, key: string): Promise<RateLimited | null> {
    const limiter = allowance.reachable && !allowance.reachable(key) ? allowance.memory : allowance.limiter;
    try {
      await limiter.consume(key);
      return null;
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) {
        this.onRejected?.(which);
        return { retryAfterSeconds: Math.max(1, Math.ceil(outcome.msBeforeNext / 1000)) };
      }
      // Both the store and its in-memory insurance failed: never refuse a request for that.
      this.logger.warn({ err: outcome }, 'rate limiter unavailable; request allowed');
      return null;
    }
  }

  private clientAddress(incoming: IncomingMessage): string {
    const peer = incoming.socket.remoteAddress ?? 'unknown';
    if (this.trustedProxies === 0) return peer;
    const forwarded = String(incoming.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((hop) => hop.trim())
      .filter(Boolean);
    // Each trusted proxy appended the address it saw; the client's is the one before them.
    return forwarded[forwarded.length - this.trustedProxies] ?? peer;
  }
}

/** One allowance: its counter, in Redis when there is one, and this process's count beside it. */
interface Allowance {
  limiter: RateLimiterAbstract;
  /** This process's count: the insurance when Redis fails, and what counts while a counter's master is down. */
  memory: RateLimiterMemory;
  /** On a cluster, whether the master holding `key`'s counter is up; null elsewhere (nothing to ask). */
  reachable: ((key: string) => boolean) | null;
}

function limiter(keyPrefix: string, { points, windowSeconds }: RateLimitRule, redis: RedisClient | null): Allowance {
  const memory = new RateLimiterMemory({ keyPrefix, points, duration: windowSeconds });
  if (!redis) return { limiter: memory, memory, reachable: null };
  // A counter is one key, and its Lua script touches that key alone, so a cluster runs it on
  // the key's master as it is.
  const shared = new RateLimiterRedis({
    storeClient: redis,
    useRedisPackage: true,
    rejectIfRedisNotReady: true,
    keyPrefix,
    points,
    duration: windowSeconds,
    insuranceLimiter: memory,
  });
  return {
    limiter: new RLWrapperTimeouts({ limiter: shared, timeoutMs: 200, insuranceLimiter: memory }),
    memory,
    // rate-limiter-flexible cannot tell whether a node-redis 5 cluster's master is up
    // (rejectIfRedisNotReady looks for a v4 internal), and a command for a master that could not be
    // reached when the cluster learned its layout would wait the whole timeout for it, and stay in
    // memory until it answers (isRedisReady): so on a cluster the router asks first, and counts
    // here at once when that master is down.
    reachable: isCluster(redis) ? (key) => isRedisReady(redis, shared.getKey(key)) : null,
  };
}

function rateLimitedError({ retryAfterSeconds }: RateLimited): GraphQLError {
  return clientError(ErrorCode.RateLimited, `Too many requests. Try again in ${retryAfterSeconds} s.`, {
    retryAfterSeconds,
    http: {
      status: statusOf(ErrorCode.RateLimited),
      headers: new HeaderMap([['retry-after', String(retryAfterSeconds)]]),
    },
  });
}

/** The 429 a caller over its allowance gets, before any GraphQL runs. */
export function rateLimitedResponse(limited: RateLimited): HTTPGraphQLResponse {
  const { message } = rateLimitedError(limited);
  return errorResponse(ErrorCode.RateLimited, message, {
    extensions: { retryAfterSeconds: limited.retryAfterSeconds },
    headers: [['retry-after', String(limited.retryAfterSeconds)]],
  });
}

export interface RateLimitPluginOptions {
  /**
   * Every caller's allowance for any request; a rule given in part keeps the rest of the default.
   * @default { points: 600, windowSeconds: 60 }
   */
  perCaller?: Partial<RateLimitRule>;
  /**
   * Stricter allowances by operation name, counted on top of the caller's.
   * @default {} (none)
   */
  operations?: Readonly<Record<string, RateLimitRule>>;
  /**
   * Proxies in front of the router that append to X-Forwarded-For; the
   * client address is read that many hops from the right.
   * @default 0 (the socket's peer: nothing in a header is trusted)
   */
  trustedProxies?: number;
}

/**
 * Requests per caller, and per operation where configured; counters in
 * Redis when the router has it, so the limit holds across instances.
 *
 * Every request counts, however it is answered: run by Apollo Server (the
 * operation's own allowance is drawn once it knows the operation), served
 * by a front stage such as the response cache (drawn here, under the name
 * Apollo Server would resolve), or refused 401 for a token that does not
 * verify (drawn from the client address, so tokens cannot be guessed for
 * free).
 */
export function rateLimitPlugin({ perCaller, ...options }: RateLimitPluginOptions = {}): RouterPlugin {
  let rateLimit: RateLimit | null = null;
  // Whose allowance each request drew on; absent: not counted yet.
  const keys = new WeakMap<RouterRequest, string>();
  return {
    name: 'rate limit',
    setup({ redis, logger, metrics }) {
      rateLimit = new RateLimit({
        ...options,
        perCaller: { points: 600, windowSeconds: 60, ...perCaller },
        redis: redis?.connection ?? null,
        logger,
        onRejected: (limit) => metrics.rateLimited(limit),
      });
    },
    async onRequest(request) {
      if (!rateLimit) return;
      // Counted before anything costly runs, for every request the caller sends.
      const key = rateLimit.keyOf(request.viewer, request.incoming);
      keys.set(request, key);
      const limited = await rateLimit.consume(key);
      if (limited) return rateLimitedResponse(limited);
    },
    async onResponse(request, response, answeredBy) {
      if (!rateLimit) return;
      const key = keys.get(request);
      if (key === undefined) {
        // Refused before this plugin's turn (a token that does not verify): the address pays.
        const limited = await rateLimit.consume(rateLimit.keyOf(null, request.incoming));
        return limited ? rateLimitedResponse(limited) : undefined;
      }
      const operation = request.operation;
      // An operation answered in front of Apollo Server (a cache hit) draws on its own allowance here.
      if (answeredBy !== 'front' || response.status !== 200 || !operation) return;
      // Served without running, so the name is the one the request gives, or its document's only operation.
      const operationName =
        operation.operationName ??
        (rateLimit.limitsOperations && operation.documentHash && operation.query !== undefined
          ? soleOperationName(operation.documentHash, operation.query)
          : null);
      const limited = await rateLimit.consumeOperation(key, operationName);
      if (limited) return rateLimitedResponse(limited);
    },
    apollo: {
      requestDidStart: async ({ contextValue }) => ({
        didResolveOperation: async ({ operationName }) => {
          const key = keys.get(contextValue.request);
          if (!rateLimit || key === undefined) return;
          const limited = await rateLimit.consumeOperation(key, operationName);
          if (limited) throw rateLimitedError(limited);
        },
      }),
    },
  };
}
