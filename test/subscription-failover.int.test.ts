import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { createClient as createRedisClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { createEventBus, type EventBus } from '../platform/src/events/index.ts';
import { withStreamPrefix } from '../platform/src/events/stream-prefix.ts';
import type { RunningRouter } from '../router/src/router.ts';
import { seedProduct, seedUser } from '../seed/world.ts';
import { postGraphQL, startShopGraph, startTestRouter, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { scrape } from './support/metrics.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * A router stopped under 100 subscribers, with stock changing all the
 * while: each subscriber, closed with 1012, subscribes again on the other
 * router after the last position it received, and ends with exactly the
 * changes a subscriber that never moved saw, in order, none twice. Then the
 * stopped router starts again and serves a new subscriber.
 */

const redisUrl = inject('redisUrl');
const postgresAdminUrl = inject('postgresAdminUrl') ?? undefined;
const subscribers = 100;
const changes = 40;

const stockChanged = `subscription ($productId: ID!) { stockChanged(productId: $productId) { quantity product { id name } } }`;
const restock = `mutation ($productId: ID!) { restock(productId: $productId, quantity: 1) { product { id } } }`;

/**
 * A subscriber as a client application writes one: it keeps the position
 * of the last event, and when its router closes the connection it
 * subscribes again, on the next router it knows, after that position.
 */
class ResumingSubscriber {
  readonly positions: string[] = [];
  resumes = 0;
  failure: unknown = null;
  private client: Client | null = null;
  private stopped = false;

  constructor(
    private readonly urls: () => string[],
    private readonly productId: string,
  ) {}

  start(routerIndex = 0) {
    if (this.stopped) return;
    const url = this.urls()[routerIndex % this.urls().length]!;
    const client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
    this.client = client;
    const last = this.positions.at(-1);
    client.subscribe(
      { query: stockChanged, variables: { productId: this.productId }, extensions: last ? { resumeAfter: last } : {} },
      {
        next: (result) => {
          if (result.errors) this.failure = result.errors;
          const position = (result.extensions as { position?: string } | undefined)?.position;
          if (position) this.positions.push(position);
        },
        // The router went away (1012, service restart): resume on the next one.
        error: () => {
          if (this.stopped) return;
          this.resumes++;
          void client.dispose();
          this.start(routerIndex + 1);
        },
        complete: () => {},
      },
    );
  }

  async stop() {
    this.stopped = true;
    await this.client?.dispose();
  }
}

describe('subscriptions across a router restart', () => {
  let graph: ShopGraph;
  let bus: EventBus;
  let redis: ReturnType<typeof createRedisClient> | null = null;
  let second: RunningRouter;
  let admin = '';

  beforeAll(async () => {
    if (redisUrl) {
      redis = createRedisClient({ url: redisUrl });
      await redis.connect();
    }
    bus = withStreamPrefix(createEventBus({ redis, logger: testLogger('bus') }), `test-${randomUUID()}`);
    graph = await startShopGraph('subscription_failover', {}, { bus, postgresAdminUrl });
    second = await startTestRouter(graph.supergraphPath);
    admin = `Bearer ${await signTestToken(testJwtSecret, seedUser(2).id, ['admin'])}`;
  });

  afterAll(async () => {
    await second?.stop();
    await graph?.stop();
    await bus?.close();
    await redis?.quit();
  });

  it('resumes every subscriber on the other router with nothing missed and nothing twice', async () => {
    const product = seedProduct(9);
    let routers = [graph.router.url, second.url];
    const inventory = graph.subgraphs.inventory;
    const before = inventory.subscriptions().started;
    // The subscriber that never moves: on the router that stays up.
    const steady = new ResumingSubscriber(() => [second.url], product.id);
    steady.start();
    const moving = Array.from({ length: subscribers }, () => new ResumingSubscriber(() => routers, product.id));
    for (const subscriber of moving) subscriber.start(0);
    // Identical subscriptions share one upstream per router (executor/subscription-fan-out.ts): one on inventory each.
    const activeAt = async (router: RunningRouter) => (await scrape(router)).sum('router_subscriptions_active');
    await until(
      async () =>
        (await activeAt(graph.router)) + (await activeAt(second)) === subscribers + 1 &&
        inventory.subscriptions().started >= before + 2,
      { what: `${subscribers + 1} subscriptions open at the routers`, timeoutMs: 60_000 },
    );

    const restocks = (async () => {
      for (let change = 0; change < changes; change++) {
        // Through the router that stays up: the other one stops mid-way.
        const answer = await postGraphQL(second.url, restock, { productId: product.id }, { authorization: admin });
        expect(answer.body.errors).toBeUndefined();
      }
    })();
    // Mid-way, the first router stops as on SIGTERM: its connections close with 1012.
    await until(() => steady.positions.length >= changes / 4, { what: 'a quarter of the changes', timeoutMs: 60_000 });
    await graph.router.stop();
    routers = [second.url];
    await restocks;

    await until(() => steady.positions.length === changes, { what: 'every change, steady', timeoutMs: 60_000 });
    await until(() => moving.every((subscriber) => subscriber.positions.length >= changes), {
      what: 'every change, at every moving subscriber',
      timeoutMs: 60_000,
    });
    expect(steady.failure).toBeNull();
    for (const subscriber of moving) {
      expect(subscriber.failure).toBeNull();
      expect(subscriber.positions).toEqual(steady.positions);
    }
    expect(moving.every((subscriber) => subscriber.resumes >= 1)).toBe(true);

    // The stopped router comes back and serves a new subscriber.
    const restarted = await startTestRouter(graph.supergraphPath);
    try {
      const fresh = new ResumingSubscriber(() => [restarted.url], product.id);
      const opened = inventory.subscriptions().started;
      fresh.start();
      await until(() => inventory.subscriptions().started > opened, { what: 'the new subscription' });
      await postGraphQL(restarted.url, restock, { productId: product.id }, { authorization: admin });
      await until(() => fresh.positions.length === 1, { what: 'a change on the restarted router' });
      await fresh.stop();
    } finally {
      await restarted.stop();
    }
    await Promise.all([steady, ...moving].map((subscriber) => subscriber.stop()));
  });
});
