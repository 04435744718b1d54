import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describeError, requireExecutable, startRedisProcess, waitUntil, type RedisProcess } from '../services.ts';
import { measureMachineSpeed, type MachineSpeed } from './machine-speed.ts';
import { freePorts } from './processes.ts';
import type { DatabaseTarget } from '../../platform/src/db/database.ts';
import type { SubgraphStartSettings } from '../../platform/src/subgraph/server.ts';
import { testIdentitySecret } from './tokens.ts';

/**
 * A real Redis Cluster for tests: six `redis-server` processes on loopback
 * (three masters, one replica each), each started as test/services.ts
 * starts any Redis (`startRedisProcess`, its own temp dir, nothing
 * persisted) with the cluster's settings, and the cluster created with
 * `redis-cli --cluster create` as an operator would. The node timeout is
 * short (2 s) so that a replica takes over from a killed master within
 * seconds. Every process is stopped through its own handle.
 *
 * redis-server and redis-cli come from the system (Debian's redis-server
 * package, /usr/bin): without them this throws, saying so, and the tests
 * that need a cluster fail rather than skip.
 */

const run = promisify(execFile);

/**
 * How long the cluster may take to form (processes up, slots assigned,
 * replicas in sync) on the reference machine before we give up; stretched
 * by the machine's slowdown.
 */
const formTimeoutMs = 90_000;
/** `cluster-node-timeout`: how long a master may be unreachable before its replica is promoted. */
export const clusterNodeTimeoutMs = 2_000;

export interface ClusterNode {
  id: string;
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  role: 'master' | 'replica';
  /** The master a replica replicates; null for a master. */
  masterId: string | null;
  /** Marked failing (`fail` or `fail?`) by the node asked. */
  failing: boolean;
  /** Slot ranges a master serves, inclusive. */
  slots: Array<[number, number]>;
}

export interface RedisClusterServers {
  /** REDIS_URL for the services under test: `redis+cluster://127.0.0.1:<port>,…`, every node a seed. */
  readonly url: string;
  /** Each node's own `redis://127.0.0.1:<port>`, in start order. */
  readonly seeds: string[];
  /** The layout, as a live node reports it now. */
  nodes(): Promise<ClusterNode[]>;
  /** The hash slot of `key`, as the cluster computes it (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /** The master serving `key`'s slot now, and its replica. */
  masterFor(key: string): Promise<{ slot: number; master: ClusterNode; replica: ClusterNode | null }>;
  /** Runs a command on one node with redis-cli, and resolves with what it printed. */
  command(port: number, ...args: string[]): Promise<string>;
  /** Every key on one node (KEYS, fine for a test's few thousand), matching `pattern`. */
  keysOn(port: number, pattern: string): Promise<string[]>;
  /**
   * SIGKILLs the master on `port`: no shutdown, no last write flushed to
   * its replica. Resolves once it has exited.
   */
  killMaster(port: number): Promise<void>;
  /**
   * Resolves once `replica` reports itself master and every live node
   * reports `cluster_state:ok` and sees it as a master; with when that was.
   */
  waitForPromotion(replica: ClusterNode, timeoutMs?: number): Promise<{ promotedAt: number }>;
  /** Stops every node still running and removes their dirs. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the cluster and resolves once it has formed. The machine's speed
 * stretches the deadlines: a test that measured it (`measureMachineSpeed`)
 * passes it on, else it is measured here.
 */
export async function startRedisCluster({ speed }: { speed?: MachineSpeed } = {}): Promise<RedisClusterServers> {
  const cli = await requireExecutable('redis-cli', 'the Redis Cluster tests (apt-get install redis-server)');
  const formWithinMs = (speed ?? (await measureMachineSpeed())).scale(formTimeoutMs);
  // Client ports and cluster bus ports: the bus defaults to port + 10,000, which may be taken or past 65,535.
  const ports = await freePorts(12);
  const nodes: RedisProcess[] = [];
  const live = () => nodes.filter((node) => !node.hasExited());
  const cliOn = async (port: number, ...args: string[]) =>
    (await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((node) => node.stop()));
  };

  try {
    const started = await Promise.allSettled(
      ports.slice(0, 6).map((port, index) =>
        startRedisProcess({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            // Relative to the node's own dir (`--dir`).
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-port',
            String(ports[index + 6]!),
            '--cluster-node-timeout',
            String(clusterNodeTimeoutMs),
          ],
        }),
      ),
    );
    for (const outcome of started) if (outcome.status === 'fulfilled') nodes.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;

    await run(
      cli,
      [
        '--cluster',
        'create',
        ...nodes.map(({ port }) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      {
        timeout: formWithinMs,
      },
    ).catch(async (error: unknown) => {
      const logs = await Promise.all(nodes.map((node) => node.log(5)));
      throw new Error(`redis-cli --cluster create failed: ${describeError(error)}\n${logs.join('\n---\n')}`, {
        cause: error,
      });
    });
    // Formed when every node agrees that all slots are served and knows all six, and every
    // replica has its master's data: a failover test needs a replica ready to take over.
    await waitUntil(
      async () => {
        for (const { port } of nodes) {
          const info = await cliOn(port, 'CLUSTER', 'INFO');
          if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:6\b/.test(info)) {
            throw new Error(`the node on ${port} does not see all six nodes serving every slot yet`);
          }
          if (!/cluster_slots_ok:16384\b/.test(info)) throw new Error(`the node on ${port} sees slots not served`);
          const replication = await cliOn(port, 'INFO', 'replication');
          if (
            /role:slave/.test(replication) &&
            (!/master_link_status:up/.test(replication) || !/master_sync_in_progress:0/.test(replication))
          ) {
            throw new Error(`the replica on ${port} is not in sync with its master yet`);
          }
        }
        const layout = parseNodes(await cliOn(nodes[0]!.port, 'CLUSTER', 'NODES'));
        if (layout.filter((node) => node.role === 'master' && node.slots.length > 0).length !== 3) {
          throw new Error('not three masters with slots yet');
        }
      },
      {
        what: 'the redis cluster formed (cluster_state:ok everywhere, replicas in sync)',
        timeoutMs: formWithinMs,
        giveUp: async () => {
          const dead = nodes.find((node) => node.hasExited());
          return dead ? `redis-server on ${dead.port} exited:\n${await dead.log()}` : null;
        },
      },
    );
  } catch (error) {
    await stop();
    throw error;
  }

  async function anyLive<T>(ask: (port: number) => Promise<T>): Promise<T> {
    let failure: unknown = new Error('no redis cluster node is running');
    for (const { port } of live()) {
      try {
        return await ask(port);
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  }

  const nodesNow = () => anyLive(async (port) => parseNodes(await cliOn(port, 'CLUSTER', 'NODES')));
  const slotOf = (key: string) =>
    anyLive(async (port) => Number((await cliOn(port, 'CLUSTER', 'KEYSLOT', key)).trim()));

  return {
    url: `redis+cluster://${nodes.map(({ port }) => `127.0.0.1:${port}`).join(',')}`,
    seeds: nodes.map(({ port }) => `redis://127.0.0.1:${port}`),
    nodes: nodesNow,
    slotOf,
    async masterFor(key) {
      const slot = await slotOf(key);
      const layout = await nodesNow();
      const master = layout.find(
        (node) =>
          node.role === 'master' && !node.failing && node.slots.some(([from, to]) => slot >= from && slot <= to),
      );
      if (!master) throw new Error(`no master serves slot ${slot}: ${JSON.stringify(layout)}`);
      const replica = layout.find((node) => node.masterId === master.id && !node.failing) ?? null;
      return { slot, master, replica };
    },
    async keysOn(port, pattern) {
      const output = await cliOn(port, 'KEYS', pattern);
      return output.split('\n').filter(Boolean);
    },
    command: cliOn,
    async killMaster(port) {
      const node = nodes.find((candidate) => candidate.port === port);
      if (!node) throw new Error(`no redis cluster node on ${port}`);
      await node.kill();
    },
    async waitForPromotion(replica, timeoutMs = formWithinMs) {
      await waitUntil(
        async () => {
          if (!/^master/.test(await cliOn(replica.port, 'ROLE'))) throw new Error('the replica is no master yet');
          for (const { port } of live()) {
            if (!/cluster_state:ok/.test(await cliOn(port, 'CLUSTER', 'INFO'))) {
              throw new Error(`the node on ${port} is not ok yet`);
            }
            const seen = parseNodes(await cliOn(port, 'CLUSTER', 'NODES')).find((node) => node.id === replica.id);
            if (seen?.role !== 'master') throw new Error(`the node on ${port} does not see the replica as master yet`);
          }
        },
        { what: `the replica on ${replica.port} promoted and the cluster ok again`, timeoutMs },
      );
      return { promotedAt: Date.now() };
    },
    stop,
  };
}

/** CLUSTER NODES: `<id> <ip:port@bus[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`. */
function parseNodes(text: string): ClusterNode[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter((fields) => fields.length >= 8)
    .map(([id, address, flags, master, , , , , ...slots]) => {
      const port = Number(/:(\d+)@/.exec(address!)?.[1]);
      const flagList = flags!.split(',');
      return {
        id: id!,
        port,
        url: `redis://127.0.0.1:${port}`,
        role: flagList.includes('master') ? ('master' as const) : ('replica' as const),
        masterId: master === '-' ? null : master!,
        failing: flagList.includes('fail') || flagList.includes('fail?'),
        // `[slot->-id]` entries are slots being migrated, not served.
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => {
            const [from, to = from] = slot.split('-').map(Number);
            return [from!, to!] as [number, number];
          }),
      };
    });
}

/**
 * What a test subgraph starts with on `database`, given the cluster as its
 * Redis (`REDIS_URL`) and no bus, so that it connects to the cluster itself
 * as a deployed one does; its streams under `eventStreamPrefix`.
 */
export function subgraphOnCluster(
  cluster: Pick<RedisClusterServers, 'url'>,
  database: DatabaseTarget,
  eventStreamPrefix: string,
): SubgraphStartSettings {
  return {
    host: '127.0.0.1',
    port: 0,
    database,
    migrateOnStart: true,
    seedIfEmpty: null,
    nodeEnv: 'test',
    identitySecret: testIdentitySecret,
    redisUrl: cluster.url,
    eventStreamPrefix,
    metrics: null,
  };
}

/** The master serving `key` and its replica, which a failover test kills and promotes; an error if it has none. */
export async function masterAndReplicaFor(
  cluster: Pick<RedisClusterServers, 'masterFor'>,
  key: string,
): Promise<{ master: ClusterNode; replica: ClusterNode }> {
  const { master, replica } = await cluster.masterFor(key);
  if (!replica) throw new Error(`the master on ${master.port} has no replica`);
  return { master, replica };
}
