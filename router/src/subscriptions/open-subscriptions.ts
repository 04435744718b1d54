import type { RouterMetrics } from '../metrics.ts';

export interface SubscriptionLimits {
  /**
   * Subscriptions one signed-in caller may have open on this router.
   * Anonymous ones are bounded per connection, and by the rate limit on
   * starting them: behind a proxy, every anonymous caller has one address.
   * Default: 50.
   */
  perCaller: number;
  /** Subscriptions one graphql-ws connection may carry. Default: 100. */
  perConnection: number;
  /**
   * Bytes of events a client may leave unread before it is closed as too
   * slow (graphql-ws: 1013 "SUBSCRIBER_TOO_SLOW"; SSE and multipart: an
   * error part, then the end): it resumes after its last position, and the
   * router never holds more than this for it. Default: 1 MiB.
   */
  unreadBytes: number;
}

export const defaultSubscriptionLimits: SubscriptionLimits = {
  perCaller: 50,
  perConnection: 100,
  unreadBytes: 1024 * 1024,
};

/** One open subscription, as the router counts it. */
export interface OpenSubscription {
  delivered(): void;
  close(): void;
}

/**
 * The subscriptions open on this router: per caller, for the limit, and
 * per root field and protocol, for the metrics.
 */
export class OpenSubscriptions {
  private readonly byCaller = new Map<string, number>();

  constructor(
    readonly limits: SubscriptionLimits,
    private readonly metrics: RouterMetrics,
  ) {}

  /** Opens one for `caller` (null: anonymous), or null when the caller has its limit open already. */
  open(caller: string | null, field: string, protocol: string, resumed: boolean): OpenSubscription | null {
    const count = caller === null ? 0 : (this.byCaller.get(caller) ?? 0);
    if (count >= this.limits.perCaller) {
      this.metrics.subscriptionRefused('limit');
      return null;
    }
    if (caller !== null) this.byCaller.set(caller, count + 1);
    this.metrics.subscriptionOpened(field, protocol, resumed);
    let closed = false;
    return {
      delivered: () => this.metrics.subscriptionEvent(field),
      close: () => {
        if (closed) return;
        closed = true;
        this.metrics.subscriptionClosed(field, protocol);
        if (caller === null) return;
        const left = (this.byCaller.get(caller) ?? 1) - 1;
        if (left > 0) this.byCaller.set(caller, left);
        else this.byCaller.delete(caller);
      },
    };
  }

  /** A transport closed a subscriber itself. */
  closedBy(reason: 'slow_client' | 'token_expired'): void {
    this.metrics.subscriptionRefused(reason);
  }
}
