/**
 * `REDIS_URL`, read once: one Redis server, or a Redis Cluster given by
 * some of its nodes. No node-redis here, so config parsing stays free of it.
 *
 * - `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS): one
 *   server, exactly as node-redis reads it.
 * - `redis+cluster://[[user]:password@]host:port,host:port,…` (`rediss+cluster://`
 *   for TLS): a cluster. The nodes listed are seeds: any one that answers
 *   tells the client the whole layout, so list a few, in case one is down
 *   when a service starts. Credentials and TLS apply to every node,
 *   including those discovered. A cluster has database 0 only, so there is
 *   no `/db`.
 */

/** One Redis server, at a URL node-redis reads as it is. */
export interface RedisServerTarget {
  kind: 'server';
  url: string;
}

/** A Redis Cluster: the nodes to ask for its layout, and how to log in to every node. */
export interface RedisClusterTarget {
  kind: 'cluster';
  seeds: Array<{ host: string; port: number }>;
  username: string | null;
  password: string | null;
  tls: boolean;
}

export type RedisTarget = RedisServerTarget | RedisClusterTarget;

const defaultPort = 6379;
const clusterScheme = /^(rediss?)\+cluster:\/\//;

/** Where `url` points; throws an Error that says what is wrong with it (for the variable's message). */
export function parseRedisUrl(url: string): RedisTarget {
  const cluster = clusterScheme.exec(url);
  if (!cluster) {
    if (!/^rediss?:\/\//.test(url)) {
      throw new Error(
        'expected a redis:// or rediss:// URL, or redis+cluster:// (rediss+cluster://) and a cluster’s nodes: redis+cluster://host1:6379,host2:6379',
      );
    }
    return { kind: 'server', url };
  }
  const rest = url.slice(cluster[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const tail = end === -1 ? '' : rest.slice(end);
  if (tail !== '' && tail !== '/' && tail !== '/0') {
    throw new Error(
      tail.startsWith('/')
        ? `a cluster has database 0 only; remove "${tail}"`
        : `a cluster URL takes no options ("${tail}"); only credentials and nodes`,
    );
  }
  const at = authority.lastIndexOf('@');
  const { username, password } = credentialsOf(at === -1 ? '' : authority.slice(0, at));
  const nodes = (at === -1 ? authority : authority.slice(at + 1)).split(',');
  return { kind: 'cluster', seeds: nodes.map(nodeOf), username, password, tls: cluster[1] === 'rediss' };
}

function credentialsOf(userinfo: string): { username: string | null; password: string | null } {
  if (userinfo === '') return { username: null, password: null };
  const colon = userinfo.indexOf(':');
  const [user, pass] = colon === -1 ? [userinfo, ''] : [userinfo.slice(0, colon), userinfo.slice(colon + 1)];
  try {
    return { username: user ? decodeURIComponent(user) : null, password: pass ? decodeURIComponent(pass) : null };
  } catch {
    throw new Error('the credentials are not properly percent-encoded');
  }
}

function nodeOf(node: string): { host: string; port: number } {
  // `[::1]:7000`: an IPv6 address keeps its brackets in a URL, and its colons are not the port's.
  const parts = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(node);
  const port = parts?.[2] === undefined ? defaultPort : Number(parts[2]);
  if (!parts || port < 1 || port > 65_535) {
    throw new Error(`"${node}" is not a node; expected host:port, with nodes separated by commas`);
  }
  return { host: parts[1]!.replace(/^\[|\]$/g, ''), port };
}
