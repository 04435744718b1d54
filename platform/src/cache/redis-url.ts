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

/**
 * Where `url` points; throws an Error that says what is wrong with it (for
 * the variable's message). The message names the kind of problem and never
 * quotes the URL: a password with an unencoded `/`, `?`, `#` or `@` is cut
 * anywhere by a URL's syntax, and any part of it shown would end up in a log.
 */
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
  // An `@` past the authority: the credentials hold a character that ends it (`/`, `?`, `#`).
  if (tail.includes('@')) throw new Error(unencodedCredentials);
  if (tail !== '' && tail !== '/' && tail !== '/0') {
    throw new Error(
      tail.startsWith('/')
        ? 'a cluster has database 0 only: remove the database number after the nodes'
        : 'a cluster URL takes no options (nothing after `?` or `#`); only credentials and nodes',
    );
  }
  const at = authority.lastIndexOf('@');
  const { username, password } = credentialsOf(at === -1 ? '' : authority.slice(0, at));
  const nodes = (at === -1 ? authority : authority.slice(at + 1)).split(',');
  return {
    kind: 'cluster',
    seeds: nodes.map((node, index) => nodeOf(node, index, nodes.length)),
    username,
    password,
    tls: cluster[1] === 'rediss',
  };
}

const unencodedCredentials =
  'the credentials hold a character that ends them in a URL (`/`, `?` or `#`): percent-encode it (%2F, %3F, %23)';

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

function nodeOf(node: string, index: number, count: number): { host: string; port: number } {
  // `[::1]:7000`: an IPv6 address keeps its brackets in a URL, and its colons are not the port's.
  const parts = /^(?:\[([^\]]+)\]|([^:[\]@]+))(?::(\d+))?$/.exec(node);
  const port = parts?.[3] === undefined ? defaultPort : Number(parts[3]);
  if (!parts || port < 1 || port > 65_535) {
    // Which node, by position only: what is there may be part of a password cut by an unencoded character.
    throw new Error(
      `node ${index + 1} of ${count} is not a node; expected host:port (a port from 1 to 65535), with nodes separated by commas`,
    );
  }
  return { host: parts[2] ?? ipv6Address(parts[1]!), port };
}

/**
 * An IPv6 address from between a URL's brackets. A zone is written `%25`
 * and its name percent-encoded (RFC 6874: `[fe80::1%25eth0]`); the socket
 * takes it as `fe80::1%eth0`.
 */
function ipv6Address(bracketed: string): string {
  const zone = /^([^%]+)%25(.+)$/.exec(bracketed);
  if (!zone) {
    if (bracketed.includes('%')) throw new Error('an IPv6 zone is written %25 and its name: [fe80::1%25eth0]');
    return bracketed;
  }
  try {
    return `${zone[1]}%${decodeURIComponent(zone[2]!)}`;
  } catch {
    throw new Error('an IPv6 zone’s name is not properly percent-encoded');
  }
}
