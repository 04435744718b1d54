import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Logger } from '../../../platform/src/logger.ts';
import {
  SubscriptionConnectionLost,
  type SubgraphSubscribeRequest,
  type SubscribeToSubgraph,
} from '../executor/subscription.ts';

/**
 * The router's subscriptions to its subgraphs, over graphql-ws: one
 * WebSocket per subgraph, opened on the first subscription and closed a
 * while after the last, carrying every caller's subscriptions to that
 * subgraph, each with its own signed identity
 * (platform/src/subgraph/subscriptions.ts).
 *
 * Why graphql-ws rather than HTTP callbacks (the other protocol the field
 * uses between router and subgraph): a callback has the subgraph call one
 * router instance back at its own address, so routers stop being
 * interchangeable replicas behind a load balancer, and a router that goes
 * takes its callbacks with it. Over a socket the router that serves the
 * client holds the subscription, and resumes it on another subgraph
 * instance after the last position it delivered when the socket goes.
 * One socket per subgraph, not per subscription: a thousand subscribers
 * are a thousand messages on one connection.
 */
export class SubgraphSubscriptions {
  private readonly clients = new Map<string, Client>();

  constructor(
    private readonly urlOf: (subgraph: string) => string,
    private readonly logger: Logger,
  ) {}

  readonly subscribe: SubscribeToSubgraph = (subgraph, request) => this.iterate(subgraph, request);

  /** Closes every socket; subscriptions on them end as lost. */
  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    // dispose() answers a promise only while the socket is still closing.
    await Promise.all(clients.map(async (client) => void (await client.dispose())));
  }

  /** The subgraph's results; `return()` ends the subscription on the subgraph at once. */
  private iterate(
    subgraph: string,
    request: SubgraphSubscribeRequest,
  ): AsyncIterableIterator<FormattedExecutionResult> {
    const results = this.clientFor(subgraph).iterate<Record<string, unknown>, Record<string, unknown>>(request);
    return {
      next: () =>
        results.next().catch((error: unknown) => {
          // The subgraph's `error` message is a list of GraphQL errors: it refused this subscription. Anything
          // else (a close event, a failed connection) is the connection going, and the subscription can resume.
          if (Array.isArray(error)) throw error;
          throw new SubscriptionConnectionLost(`the connection to subgraph "${subgraph}" was lost`, { cause: error });
        }),
      return: () => results.return!(),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private clientFor(subgraph: string): Client {
    let client = this.clients.get(subgraph);
    if (!client) {
      const url = new URL(this.urlOf(subgraph));
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      client = createClient({
        url: url.toString(),
        webSocketImpl: WebSocket,
        lazy: true,
        // Kept a while after the last subscription: a client that resubscribes at once finds the socket open.
        lazyCloseTimeout: 5_000,
        // Reconnecting is the subscription's own business: it resumes after its last position (subscriptionEvents).
        retryAttempts: 0,
        keepAlive: 10_000,
        on: {
          error: (error) => this.logger.warn({ err: error, subgraph }, 'subscription connection to subgraph failed'),
        },
      });
      this.clients.set(subgraph, client);
    }
    return client;
  }
}
