import { describe, expect, it } from 'vitest';
import { refreshTopology, type RedisClusterClient } from '../src/cache/redis.ts';
import { createLogger } from '../src/logger.ts';

/**
 * `refreshTopology` reaches into node-redis (`_slots.rediscover`), and runs
 * in 'error' listeners, where a throw would crash the process: an upgrade
 * that changes those internals must cost a log line, said once.
 */

/** A cluster client as far as `refreshTopology` looks at it: open, one master ready, and `_slots` as given. */
function clusterWith(slots: unknown): RedisClusterClient {
  return { isOpen: true, masters: [{ client: { isReady: true } }], _slots: slots } as unknown as RedisClusterClient;
}

describe('refreshTopology', () => {
  it('neither throws nor rejects when node-redis’s internals are not what it expects, and says so once', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = createLogger({
      service: 'test',
      level: 'debug',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
    const changed = [clusterWith(undefined), clusterWith({}), clusterWith({ rediscover: 'not a function' })];
    for (const cluster of changed) {
      expect(() => refreshTopology(cluster, logger)).not.toThrow();
      await expect(refreshTopology(cluster, logger)).resolves.toBeUndefined();
    }
    expect(lines.filter((line) => /cannot ask for its layout again/.test(line.msg))).toHaveLength(1);
  });

  it('asks node-redis to rediscover when it can, once per interval however many failures ask', async () => {
    let asked = 0;
    const cluster = clusterWith({ rediscover: async () => void asked++ });
    await Promise.all([refreshTopology(cluster), refreshTopology(cluster), refreshTopology(cluster)]);
    await refreshTopology(cluster);
    expect(asked).toBe(1);
  });
});
