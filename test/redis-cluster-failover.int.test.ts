import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisCache } from '../platform/src/cache/redis.ts';
import { createLogger } from '../platform/src/logger.ts';
import { newEvent, RedisStreamsBus, type Subscription } from '../platform/src/events/index.ts';
import { seedProduct } from '../seed/world.ts';
import { measureMachineSpeed } from './support/machine-speed.ts';
import {
  masterAndReplicaFor,
  startRedisCluster,
  type ClusterNode,
  type RedisClusterServers,
} from './support/redis-cluster.ts';
import { startShopGraph, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { until } from './support/until.ts';

/**
 * A Redis Cluster master SIGKILLed under load, with no warning and no last
 * write flushed to its replica. The master chosen holds the response
 * cache's purge count (`rc:g`, read by every cacheable request) and the
 * slot of a stream that events are being published to, consumed from by
 * a group and read by a tail (what a GraphQL subscription reads).
 *
 * While its replica is promoted (the node timeout is 2 s), requests keep
 * succeeding: the cache and the rate limiter fail open. Once it is promoted,
 * the cache serves hits again and the stream's consumer reads from it.
 * Every event XADD acknowledged before the kill arrives, except what
 * asynchronous replication had not yet copied to the replica: Redis
 * documents that a failover may lose the last acknowledged writes (there
 * is no WAIT here). Those are counted, reported, and must all be from
 * before the kill; everything acknowledged after the promotion arrives.
 *
 * Bounded by counts (requests and events) with generous deadlines.
 */

const postgresAdminUrl = inject('postgresAdminUrl') ?? undefined;
const speed = await measureMachineSpeed();
const deadlineMs = speed.scale(60_000);
/** Short, so that deliveries cut off by the kill are taken over within the test (30 s in production). */
const claimIdleMs = 3_000;
const streamName = 'failover';
const loadClients = 3;
/** Each client's and the publisher's pause between requests: a few hundred a second at most, on any machine. */
const pauseMs = 10;
/** Requests answered before the kill, and again after the promotion. */
const requestsPerPhase = 150;
/** Events acknowledged before the kill, and again after the promotion. */
const eventsPerPhase = 100;
/**
 * The longest a request answered between the kill and the promotion may
 * take: several times what the fail-open path costs (a request, tens of ms
 * here, plus at most a 200 ms command timeout), far below the seconds of the
 * failover itself, which a request waiting on the dead master would take.
 */
const outageLatencyBoundMs = speed.scale(1_000);

interface Outcome {
  /** When the answer was read (Date.now()). */
  at: number;
  /** How long the request took, in ms. */
  tookMs: number;
  status: number;
  ok: boolean;
  cache: string | null;
}

let cluster: RedisClusterServers;
let graph: ShopGraph;
let busRedis: RedisCache;
let bus: RedisStreamsBus;
let victim: ClusterNode;
let replica: ClusterNode;
let stream: string;
/** The router's log lines, as they were written: when its cache says it is whole again. */
const routerLog: Array<{ time: number; msg: string }> = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ speed });
  ({ master: victim, replica } = await masterAndReplicaFor(cluster, 'rc:g'));
  // A stream in a slot of the same master: one kill takes both away.
  for (;;) {
    stream = `test-${randomUUID()}:${streamName}`;
    if ((await cluster.masterFor(stream)).master.id === victim.id) break;
  }
  graph = await startShopGraph(
    'redis_cluster_failover',
    {
      redisUrl: cluster.url,
      eventStreamPrefix: stream.slice(0, -streamName.length - 1),
      responseCache: { enabled: true },
      // Counted in the cluster, and never the reason a request is refused here.
      rateLimit: { perCaller: { points: 1_000_000, windowSeconds: 60 } },
    },
    {
      postgresAdminUrl,
      loggerFor: (service) =>
        service === 'router'
          ? createLogger({
              service,
              level: 'info',
              destination: { write: (line: string) => void routerLog.push(JSON.parse(line)) },
            })
          : testLogger(service),
    },
  );
  busRedis = new RedisCache({ url: cluster.url, logger: testLogger('redis') });
  await until(() => busRedis.connected, { what: 'connected to the cluster', timeoutMs: deadlineMs });
  bus = new RedisStreamsBus({
    redis: busRedis.connection,
    logger: testLogger('bus'),
    claimIdleMs,
    claimIntervalMs: 200,
  });
}, speed.scale(180_000));

afterAll(async () => {
  await bus?.close();
  await busRedis?.close();
  await graph?.stop();
  await cluster?.stop();
});

const productQuery = 'query ($id: ID!) { product(id: $id) { id name } }';

async function post(id: string): Promise<Outcome> {
  const startedAt = performance.now();
  const tookMs = () => performance.now() - startedAt;
  try {
    const response = await fetch(graph.router.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: productQuery, variables: { id } }),
    });
    const body = (await response.json()) as { data?: { product?: { id: string } | null }; errors?: unknown[] };
    return {
      at: Date.now(),
      tookMs: tookMs(),
      status: response.status,
      ok: response.status === 200 && !body.errors && body.data?.product?.id === id,
      cache: response.headers.get('x-cache'),
    };
  } catch {
    return { at: Date.now(), tookMs: tookMs(), status: 0, ok: false, cache: null };
  }
}

describe('a Redis Cluster master killed under load', () => {
  it(
    'costs no request, and cache, rate limits and the stream come back on the promoted replica',
    async () => {
      let running = true;
      const outcomes: Outcome[] = [];
      const load = Array.from({ length: loadClients }, async (_, client) => {
        for (let turn = client; running; turn++) {
          outcomes.push(await post(seedProduct(turn % 12).id));
          await sleep(pauseMs);
        }
      });

      const acked: Array<{ id: string; at: number }> = [];
      let publishFailures = 0;
      const publishing = (async () => {
        while (running) {
          // A new event each time: a publish that failed may or may not have been written.
          const event = newEvent('FailoverChecked', `check-${acked.length}`, { index: acked.length });
          try {
            await bus.publish(stream, [event]);
            acked.push({ id: event.id, at: Date.now() });
          } catch {
            publishFailures++;
          }
          await sleep(pauseMs);
        }
      })();
      /** When each event was handled, by id. */
      const handled = new Map<string, number>();
      const consumer: Subscription = bus.subscribe({
        stream,
        group: 'failover-check',
        consumer: 'checker',
        blockMs: 200,
        handle: async (event) => void handled.set(event.id, Date.now()),
      });
      // A subscription's way of reading: a tail, with a blocking XREAD of its own.
      const tailed = new Set<string>();
      const tail = bus.tail({ stream, blockMs: 200 });
      const tailing = (async () => {
        for await (const { event } of tail) tailed.add(event.id);
      })();

      try {
        await until(
          () =>
            outcomes.length >= requestsPerPhase &&
            outcomes.some((outcome) => outcome.cache === 'HIT') &&
            acked.length >= eventsPerPhase &&
            handled.size >= eventsPerPhase / 2,
          { what: 'load, hits and events before the kill', timeoutMs: deadlineMs },
        );
        const ackedBeforeKill = acked.length;
        const killedAt = Date.now();
        await cluster.killMaster(victim.port);
        const { promotedAt } = await cluster.waitForPromotion(replica, deadlineMs);
        const requestsAtPromotion = outcomes.length;
        const ackedAtPromotion = acked.length;
        await until(
          () =>
            outcomes.length >= requestsAtPromotion + requestsPerPhase &&
            acked.length >= ackedAtPromotion + eventsPerPhase,
          { what: 'load and events after the promotion', timeoutMs: deadlineMs },
        );
        running = false;
        await Promise.all([...load, publishing]);

        // Fail open: not one request failed while the master was gone and its replica took over.
        const failed = outcomes.filter((outcome) => !outcome.ok);
        expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
        // And fast: a request answered during the outage waited on Redis for a command timeout at
        // most (each of its lookups fails at once or within 200 ms), never for the failover.
        const duringOutage = outcomes.filter((outcome) => outcome.at > killedAt && outcome.at <= promotedAt);
        const slowest = (list: Outcome[]) => Math.max(...list.map((outcome) => outcome.tookMs));
        expect(duringOutage.length).toBeGreaterThan(0);
        expect(slowest(duringOutage)).toBeLessThan(outageLatencyBoundMs);
        const firstHitAfterKill = outcomes.find((outcome) => outcome.at > killedAt && outcome.cache === 'HIT');

        // The cache works again on the promoted replica: a new entry is stored, then served.
        const fresh = seedProduct(97).id;
        const missThenHit: Array<string | null> = [];
        await until(
          async () => {
            const outcome = await post(fresh);
            expect(outcome.ok).toBe(true);
            missThenHit.push(outcome.cache);
            return outcome.cache === 'HIT';
          },
          { what: 'a cache hit after the promotion', timeoutMs: deadlineMs },
        );
        expect(missThenHit[0]).toBe('MISS');

        // Every acknowledged event the promoted replica holds is consumed; those it lacks were lost
        // by asynchronous replication, and can only be among the last acknowledged before the kill.
        const promoted = createClient({ url: replica.url });
        await promoted.connect();
        let present: Set<string>;
        try {
          const entries = await promoted.xRange(stream, '-', '+');
          present = new Set(entries.map((entry) => String(entry.message.id)));
        } finally {
          await promoted.close();
        }
        const lost = acked.filter((event) => !present.has(event.id));
        await until(() => acked.every((event) => handled.has(event.id) || !present.has(event.id)), {
          what: 'every acknowledged event the promoted replica holds consumed',
          timeoutMs: deadlineMs,
        });
        expect(lost.every((event) => event.at <= killedAt)).toBe(true);
        expect(acked.slice(ackedAtPromotion).every((event) => handled.has(event.id))).toBe(true);
        await until(() => acked.slice(ackedAtPromotion).every((event) => tailed.has(event.id)), {
          what: 'the tail reading on after the promotion',
          timeoutMs: deadlineMs,
        });

        console.log(
          JSON.stringify({
            redisClusterFailover: {
              promotedAfterMs: promotedAt - killedAt,
              // The router's cache logs this once every master answers again.
              routerCacheWholeAfterPromotionMs:
                (routerLog.find((line) => line.time > killedAt && line.msg === 'redis cache connected')?.time ??
                  Number.NaN) - promotedAt,
              firstHitAfterKillMs: firstHitAfterKill ? firstHitAfterKill.at - killedAt : null,
              consumerResumedAfterPromotionMs:
                Math.min(...[...handled.values()].filter((at) => at > promotedAt)) - promotedAt,
              requests: outcomes.length,
              slowestRequestMs: {
                beforeKill: Math.round(slowest(outcomes.filter((o) => o.at <= killedAt))),
                betweenKillAndPromotion: Math.round(slowest(duringOutage)),
                afterPromotion: Math.round(slowest(outcomes.filter((o) => o.at > promotedAt))),
              },
              requestsBetweenKillAndPromotion: outcomes.filter((o) => o.at > killedAt && o.at <= promotedAt).length,
              hitsBetweenKillAndPromotion: outcomes.filter(
                (o) => o.at > killedAt && o.at <= promotedAt && o.cache === 'HIT',
              ).length,
              failedRequests: failed.length,
              eventsAcknowledged: acked.length,
              acknowledgedBeforeKill: ackedBeforeKill,
              publishFailuresDuringFailover: publishFailures,
              eventsLost: lost.length,
              eventsConsumed: handled.size,
              eventsTailed: tailed.size,
            },
          }),
        );
      } finally {
        running = false;
        await Promise.allSettled([...load, publishing]);
        await consumer.stop();
        await tail.close();
        await tailing;
      }
    },
    speed.scale(300_000),
  );
});
