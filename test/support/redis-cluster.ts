import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { pingRedis } from '../services.ts';
import { freePorts } from './processes.ts';

/**
 * A real Redis Cluster for tests: six `redis-server` processes on loopback
 * (three masters, one replica each), each in its own temp dir, created with
 * `redis-cli --cluster create` as an operator would. Nothing is persisted,
 * and the node timeout is short (2 s) so that a replica takes over from a
 * killed master within seconds. Every process is stopped through its own
 * handle.
 *
 * redis-server and redis-cli come from the system (Debian's redis-server
 * package, /usr/bin): without them this throws, saying so, and the tests
 * that need a cluster fail rather than skip.
 */

const run = promisify(execFile);

/** How long the cluster may take to form (processes up, slots assigned, replicas in sync) before we give up. */
const formTimeoutMs = 90_000;
/** How long a node may take to exit on SIGTERM before it is killed. */
const stopTimeoutMs = 5_000;
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

interface RunningNode {
  port: number;
  dir: string;
  child: ChildProcess;
  exited: Promise<void>;
}

export async function startRedisCluster(): Promise<RedisClusterServers> {
  const [server, cli] = await Promise.all([requireExecutable('redis-server'), requireExecutable('redis-cli')]);
  const root = await mkdtemp(join(tmpdir(), 'test-redis-cluster-'));
  // Client ports and cluster bus ports: the bus defaults to port + 10,000, which may be taken or past 65,535.
  const ports = await freePorts(12);
  const nodes: RunningNode[] = [];
  const live = () => nodes.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  const cliOn = async (port: number, ...args: string[]) =>
    (await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await Promise.all(nodes.map(stopNode));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  };

  try {
    for (let index = 0; index < 6; index++) {
      const port = ports[index]!;
      const dir = join(root, String(port));
      await mkdir(dir);
      const child = spawn(
        server,
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(port),
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, 'nodes.conf'),
          '--cluster-port',
          String(ports[index + 6]!),
          '--cluster-node-timeout',
          String(clusterNodeTimeoutMs),
          '--appendonly',
          'no',
          '--save',
          '',
          '--daemonize',
          'no',
          '--dir',
          dir,
          '--logfile',
          join(dir, 'redis.log'),
        ],
        { cwd: dir, stdio: 'ignore' },
      );
      const exited = new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', () => resolve());
      });
      nodes.push({ port, dir, child, exited });
    }
    await Promise.all(
      nodes.map(({ port, dir, child }) =>
        untilTrue(async () => {
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Fatal(`redis-server on ${port} exited:\n${await tail(join(dir, 'redis.log'))}`);
          }
          return pingRedis(`redis://127.0.0.1:${port}`).then(
            () => true,
            () => false,
          );
        }, `redis-server on 127.0.0.1:${port} answering`),
      ),
    );
    const addresses = nodes.map(({ port }) => `127.0.0.1:${port}`);
    await run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: formTimeoutMs,
    }).catch(async (error: unknown) => {
      const logs = await Promise.all(nodes.map(({ dir }) => tail(join(dir, 'redis.log'), 5)));
      throw new Error(`redis-cli --cluster create failed: ${describe(error)}\n${logs.join('\n---\n')}`, {
        cause: error,
      });
    });
    // Formed when every node agrees that all slots are served and knows all six, and every
    // replica has its master's data: a failover test needs a replica ready to take over.
    await untilTrue(async () => {
      for (const { port } of nodes) {
        const info = await cliOn(port, 'CLUSTER', 'INFO');
        if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:6\b/.test(info)) return false;
        if (!/cluster_slots_ok:16384\b/.test(info)) return false;
        const replication = await cliOn(port, 'INFO', 'replication');
        if (/role:slave/.test(replication)) {
          if (!/master_link_status:up/.test(replication) || !/master_sync_in_progress:0/.test(replication))
            return false;
        }
      }
      const layout = parseNodes(await cliOn(nodes[0]!.port, 'CLUSTER', 'NODES'));
      return layout.filter((node) => node.role === 'master' && node.slots.length > 0).length === 3;
    }, 'the redis cluster formed (cluster_state:ok everywhere, replicas in sync)');
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
    async killMaster(port) {
      const node = nodes.find((candidate) => candidate.port === port);
      if (!node) throw new Error(`no redis cluster node on ${port}`);
      node.child.kill('SIGKILL');
      await node.exited;
    },
    async waitForPromotion(replica, timeoutMs = formTimeoutMs) {
      await untilTrue(
        async () => {
          if (!/^master/.test(await cliOn(replica.port, 'ROLE'))) return false;
          for (const { port } of live()) {
            if (!/cluster_state:ok/.test(await cliOn(port, 'CLUSTER', 'INFO'))) return false;
            const seen = parseNodes(await cliOn(port, 'CLUSTER', 'NODES')).find((node) => node.id === replica.id);
            if (seen?.role !== 'master') return false;
          }
          return true;
        },
        `the replica on ${replica.port} promoted and the cluster ok again`,
        timeoutMs,
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

async function stopNode({ child, exited }: RunningNode): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const stoppedInTime = await Promise.race([exited.then(() => true), sleep(stopTimeoutMs, false, { ref: false })]);
  if (!stoppedInTime) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Stops a wait at once: the condition can never hold (a process died). */
class Fatal extends Error {}

/** Polls `condition` every 100 ms until it holds; fails after `timeoutMs`, with the last error seen. */
async function untilTrue(condition: () => Promise<boolean>, what: string, timeoutMs = formTimeoutMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown = null;
    try {
      if (await condition()) return;
    } catch (error) {
      if (error instanceof Fatal) throw error;
      failure = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms${failure ? ` (last error: ${describe(failure)})` : ''}`);
    }
    await sleep(100);
  }
}

async function requireExecutable(name: string): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here; try the next folder
    }
  }
  throw new Error(
    `${name} not found on PATH or in /usr/bin: the Redis Cluster tests need it (apt-get install redis-server)`,
  );
}

async function tail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // execFile's errors carry the child's output, where redis-cli says what went wrong.
  const { stdout, stderr } = error as { stdout?: unknown; stderr?: unknown };
  const output = [stderr, stdout].filter((part): part is string => typeof part === 'string' && part.trim() !== '');
  return [error.message.split('\n')[0], ...output.map((part) => part.trim().slice(-2000))].join('\n');
}
