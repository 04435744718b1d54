import { describe, expect, it } from 'vitest';
import { keySlot, type RedisClient } from '../src/cache/redis.ts';
import { deadLetterKey } from '../src/events/redis-connection.ts';
import { parseRedisUrl } from '../src/cache/redis-url.ts';
import { routerConfigFrom } from '../../router/src/config.ts';
import { subgraphConfigFromEnv } from '../src/subgraph/config.ts';

/** REDIS_URL's two forms (cache/redis-url.ts), and the hash slots a cluster puts keys in. */

describe('REDIS_URL', () => {
  it('reads redis:// and rediss:// as one server, left for node-redis to read', () => {
    expect(parseRedisUrl('redis://cache:6379')).toEqual({ kind: 'server', url: 'redis://cache:6379' });
    expect(parseRedisUrl('rediss://:secret@cache:6380/2')).toEqual({
      kind: 'server',
      url: 'rediss://:secret@cache:6380/2',
    });
  });

  it('reads redis+cluster:// as a cluster: its seed nodes, with credentials and TLS for every node', () => {
    expect(parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001,cache-3')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: 'cache-3', port: 6379 },
      ],
      username: null,
      password: null,
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://app:p%40ss%2Cword@[::1]:7000,[fd00::2]:7001/')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: '::1', port: 7000 },
        { host: 'fd00::2', port: 7001 },
      ],
      username: 'app',
      password: 'p@ss,word',
      tls: true,
    });
    expect(parseRedisUrl('redis+cluster://:secret@cache:7000/0')).toMatchObject({ username: null, password: 'secret' });
  });

  it('says what is wrong with a cluster URL it cannot use', () => {
    expect(() => parseRedisUrl('redis+cluster://a:7000/3')).toThrow(/database 0 only/);
    expect(() => parseRedisUrl('redis+cluster://a:7000?tls=true')).toThrow(/takes no options/);
    expect(() => parseRedisUrl('redis+cluster://a:7000,,b:7001')).toThrow(/node 2 of 3 is not a node/);
    expect(() => parseRedisUrl('redis+cluster://a:70000')).toThrow(/node 1 of 1 is not a node/);
    expect(() => parseRedisUrl('redis+cluster://%zz@a:7000')).toThrow(/percent-encoded/);
  });

  it('never shows any part of a password in its message, however a reserved character cuts it', () => {
    // Passwords of characters no message has in a row, so that any piece of one shown is found.
    const cases: Array<[url: string, password: string]> = [
      ['redis+cluster://:Q7/vX2kZ@h:7000', 'Q7/vX2kZ'],
      ['redis+cluster://:Q7?vX2kZ@h:7000', 'Q7?vX2kZ'],
      ['redis+cluster://:Q7#vX2kZ@h:7000', 'Q7#vX2kZ'],
      ['redis+cluster://app:Q7/vX2kZ@h:7000,h2:7001', 'Q7/vX2kZ'],
      ['rediss+cluster://:Q7/vX2kZ/3@h:7000', 'Q7/vX2kZ/3'],
      // Cut before its `@`, what is left of the password reads as a node, or as a database.
      ['redis+cluster://:Q7:8@h/7000', 'Q7:8'],
      ['redis+cluster://:Qj/7', 'Qj/7'],
      ['redis+cluster://:%zzQ7vX@h:7000', '%zzQ7vX'],
    ];
    for (const [url, password] of cases) {
      let message = '';
      try {
        parseRedisUrl(url);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, url).not.toBe('');
      for (let index = 0; index + 2 <= password.length; index++) {
        expect(message, url).not.toContain(password.slice(index, index + 2));
      }
    }
    expect(() => parseRedisUrl('redis+cluster://:Q7/vX2kZ@h:7000')).toThrow(/percent-encode/);
  });

  it('reads an IPv6 seed with a zone, written %25 as RFC 6874 has it', () => {
    expect(parseRedisUrl('redis+cluster://[fe80::1%25eth0]:7000,[fe80::2%25en%30]:7001')).toMatchObject({
      seeds: [
        { host: 'fe80::1%eth0', port: 7000 },
        { host: 'fe80::2%en0', port: 7001 },
      ],
    });
    expect(() => parseRedisUrl('redis+cluster://[fe80::1%eth0]:7000')).toThrow(/written %25/);
  });

  it('fails a service’s start naming the variable, for the router and a subgraph alike', () => {
    const url = 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000';
    expect(routerConfigFrom([], { REDIS_URL: url }).redisUrl).toBe(url);
    expect(subgraphConfigFromEnv('products', 4002, { REDIS_URL: url }).redisUrl).toBe(url);
    expect(() => routerConfigFrom([], { REDIS_URL: 'redis+cluster://10.0.0.1:7000/1' })).toThrow(
      /REDIS_URL: a cluster has database 0 only/,
    );
    expect(() => subgraphConfigFromEnv('products', 4002, { REDIS_URL: 'cluster://a:1' })).toThrow(
      /REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL, or redis\+cluster:\/\//,
    );
  });
});

describe('keySlot', () => {
  it('is CRC16 (XMODEM) modulo 16384, as the cluster specification gives it', () => {
    // The specification's check value: CRC16("123456789") = 0x31C3.
    expect(keySlot('123456789')).toBe(0x31c3);
    expect(keySlot('')).toBe(0);
  });

  it('hashes only the hash tag when a key has one, so keys sharing it share a slot', () => {
    expect(keySlot('{orders}.dead')).toBe(keySlot('orders'));
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    // The first `{` and the next `}`: an empty tag hashes the whole key.
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'));
  });
});

describe('a stream’s dead letters on a cluster', () => {
  // As `isCluster` tells a cluster's client from a server's.
  const cluster = { masters: [] } as unknown as RedisClient;

  it('share the stream’s slot, under its name as a hash tag', () => {
    expect(deadLetterKey(cluster, 'shop:orders')).toBe('{shop:orders}.dead');
    expect(keySlot(deadLetterKey(cluster, 'shop:orders'))).toBe(keySlot('shop:orders'));
    // A stream with a hash tag of its own shares it with its dead letters as they are.
    expect(deadLetterKey(cluster, '{shop}:orders')).toBe('{shop}:orders.dead');
  });

  it('refuse a stream name with a `}`, which no hash tag can hold', () => {
    expect(() => deadLetterKey(cluster, 'shop:or}ders')).toThrow(/may not hold "\}"/);
  });
});
