import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Awaitable } from '../../../../platform/src/awaitable.ts';
import {
  isCluster,
  isRedisReady,
  pipeline,
  type KeyCommand,
  type RedisCache,
  type RedisClient,
  type RedisNodeClient,
} from '../../../../platform/src/cache/redis.ts';

/** One cached response: its body bytes exactly as first sent, and what they may be reused for. */
export interface CachedResponse {
  body: Buffer;
  /** When the response was produced, in ms since the epoch; `Age` counts from here. */
  createdAt: number;
  maxAgeSeconds: number;
  scope: 'PUBLIC' | 'PRIVATE';
  contentType: string;
}

/**
 * Where cached responses live. Entries are tagged with the entities they
 * contain so that a change to one entity can remove exactly the responses
 * that show it. Every method fails open: an unreachable store is a miss and
 * a dropped write, never a failed request.
 *
 * Purges are counted. A response is made from reads that start after
 * `generation()` and is stored with that number: if any of its tags was
 * purged since, the response may show what the purge was for, from before
 * the change, and it is not kept. Without this, a query that read just
 * before a write committed could store its stale answer just after the
 * write's purge, and serve it for the entry's whole lifetime.
 *
 * And for `refillDelayMs` after a purge, no response carrying one of its
 * tags is stored at all, however late it began: a subgraph that reads from
 * a Postgres replica (`<NAME>_DATABASE_REPLICA_URLS`) answers from the
 * replica's past until it has replayed the change, and that answer, stored
 * just after the purge, would bring back what the purge removed for the
 * entry's whole lifetime. Such responses are served, only not kept.
 */
export interface ResponseStore {
  readonly kind: 'redis' | 'memory';
  /** An entry, synchronously when the store has it at hand (memory), so a hit makes no promise. */
  get(key: string): Awaitable<CachedResponse | undefined>;
  /** The purge count now, to pass to `set`; undefined when the store cannot say (then nothing is stored). */
  generation(): Awaitable<number | undefined>;
  /** Stores `response` unless one of `tags` (or everything) was purged after `generation`. */
  set(key: string, response: CachedResponse, tags: readonly string[], generation: number): Promise<void>;
  /**
   * Removes every entry carrying any of `tags`; resolves with how many went.
   * Rejects when the purge could not be applied (its store unreachable, in
   * whole or in part): the caller keeps it and tries again (pending-purges.ts).
   */
  purgeTags(tags: readonly string[]): Promise<number>;
  /** Removes every entry; resolves and rejects as `purgeTags` does. */
  purgeAll(): Promise<number>;
}

/**
 * How long a purge's mark is kept: longer than any request runs between its
 * lookup and its store (subgraph deadlines are seconds), so a request never
 * outlives the mark of a purge it raced.
 */
const purgeMarkTtlMs = 10 * 60_000;
/** The mark `purgeAll` leaves, under a name no tag has (tags are `Type` or `Type:<id>`). */
const everythingMark = ' all';

/** Bytes of response bodies kept in memory when there is no Redis. */
const defaultMemoryBytes = 128 * 1024 * 1024;

/**
 * After a purge, how long responses carrying its tags are not stored:
 * above the replay lag of a healthy streaming replica (milliseconds), and
 * short enough that a popular entity's entry is back within a second.
 */
export const defaultRefillDelayMs = 1_000;

export interface ResponseStoreOptions {
  /** After a purge, how long responses carrying its tags are not stored; 0 stores them at once. Default: `defaultRefillDelayMs`. */
  refillDelayMs?: number;
}

/** A bounded LRU in this process: for one router instance, or tests. */
export class MemoryResponseStore implements ResponseStore {
  readonly kind = 'memory';
  private readonly entries: LRUCache<string, { response: CachedResponse; tags: readonly string[] }>;
  private readonly keysByTag = new Map<string, Set<string>>();
  private purges = 0;
  /** The purge count when each tag was last purged. */
  private readonly purgedAt = new LRUCache<string, number>({ max: 100_000, ttl: purgeMarkTtlMs });
  /** When each tag was last purged (performance.now()), while its responses are not to be stored. */
  private readonly refilling: LRUCache<string, number> | null;
  private readonly refillDelayMs: number;

  constructor(maxBytes = defaultMemoryBytes, { refillDelayMs = defaultRefillDelayMs }: ResponseStoreOptions = {}) {
    this.refillDelayMs = refillDelayMs;
    this.refilling = refillDelayMs > 0 ? new LRUCache({ max: 100_000, ttl: refillDelayMs }) : null;
    this.entries = new LRUCache({
      maxSize: maxBytes,
      sizeCalculation: ({ response }, key) => response.body.length + key.length,
      // Evicted, expired or replaced: the tag index must forget the key too.
      dispose: ({ tags }, key) => {
        for (const tag of tags) {
          const keys = this.keysByTag.get(tag);
          keys?.delete(key);
          if (keys?.size === 0) this.keysByTag.delete(tag);
        }
      },
    });
  }

  get(key: string) {
    return this.entries.get(key)?.response;
  }

  generation() {
    return this.purges;
  }

  async set(key: string, response: CachedResponse, tags: readonly string[], generation: number) {
    const marks = [everythingMark, ...tags];
    if (marks.some((tag) => (this.purgedAt.get(tag) ?? 0) > generation)) return;
    if (this.refilling && marks.some((tag) => this.isRefilling(tag))) return;
    this.entries.set(key, { response, tags }, { ttl: response.maxAgeSeconds * 1000 });
    if (!this.entries.has(key)) return; // larger than the whole cache
    for (const tag of tags) {
      let keys = this.keysByTag.get(tag);
      if (!keys) this.keysByTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  async purgeTags(tags: readonly string[]) {
    this.purges++;
    for (const tag of tags) {
      this.purgedAt.set(tag, this.purges);
      this.refilling?.set(tag, performance.now());
    }
    const keys = new Set(tags.flatMap((tag) => [...(this.keysByTag.get(tag) ?? [])]));
    for (const key of keys) this.entries.delete(key);
    return keys.size;
  }

  async purgeAll() {
    this.purgedAt.set(everythingMark, ++this.purges);
    this.refilling?.set(everythingMark, performance.now());
    const count = this.entries.size;
    this.entries.clear();
    return count;
  }

  /** The LRU's own expiry is checked lazily, and rounded to its clock: the time is compared here. */
  private isRefilling(tag: string): boolean {
    const purgedAt = this.refilling?.get(tag);
    return purgedAt !== undefined && performance.now() - purgedAt < this.refillDelayMs;
  }
}

/**
 * Entries in Redis, shared by every router instance, so a purge on one
 * instance is seen by all. Layout, under the feature's `rc:` prefix:
 * - `rc:e:<sha256 of key>`: the entry (a length-prefixed JSON header, then the body), expiring with it;
 * - `rc:t:<tag>`: a sorted set of entry keys scored by their expiry, trimmed
 *   of expired members on every write so it stays as small as the live entries;
 * - `rc:g`: the purge count, and `rc:p:<tag>`: the count at the tag's last
 *   purge (one member scored by it, raised only: `ZADD GT`), kept a few minutes;
 * - `rc:r:<tag>`: present for `refillDelayMs` after the tag's last purge,
 *   expiring on Redis's clock, so routers whose clocks differ agree on it.
 *
 * A store writes the entry first and reads the marks after; a purge writes
 * the marks first and reads the tag sets after. Whichever comes second sees
 * the other's write, so a response raced by a purge is either not kept or
 * removed by the purge. This needs each phase done before the next starts,
 * not the keys of a phase on one server: every key is written on its own
 * and read where it lives.
 *
 * So the keys carry no hash tag, and on a Redis Cluster they spread over
 * every master like any keys: one slot for the whole cache would put it
 * all on one master. Each phase is one `pipeline` of commands on one key
 * each: one round trip on one server, one per master involved (in
 * parallel) on a cluster, which refuses a MULTI or a command whose keys
 * span slots.
 */
export class RedisResponseStore implements ResponseStore {
  readonly kind = 'redis';
  private readonly refillDelayMs: number;

  constructor(
    private readonly redis: RedisCache,
    { refillDelayMs = defaultRefillDelayMs }: ResponseStoreOptions = {},
  ) {
    this.refillDelayMs = refillDelayMs;
  }

  async get(key: string) {
    const value = await this.redis.getBuffer(entryKey(digest(key)));
    return value ? decodeEntry(value) : undefined;
  }

  async generation() {
    const count = await this.redis.run((client) => client.get(generationKey), { key: generationKey });
    return count === undefined ? undefined : Number(count ?? 0);
  }

  async set(key: string, response: CachedResponse, tags: readonly string[], generation: number) {
    const ttl = String(response.maxAgeSeconds * 1000);
    const expiresAt = String(response.createdAt + response.maxAgeSeconds * 1000);
    const hashed = digest(key);
    const entry = entryKey(hashed);
    await this.redis.run(async (client) => {
      try {
        await pipeline(client, [
          ['SET', entry, encodeEntry(response), 'PX', ttl],
          ...tags.flatMap((tag): KeyCommand[] => {
            const tagKey = tagSetKey(tag);
            return [
              ['ZADD', tagKey, expiresAt, hashed],
              ['ZREMRANGEBYSCORE', tagKey, '-inf', String(response.createdAt)],
              // The set lives as long as its longest-lived member.
              ['PEXPIRE', tagKey, ttl, 'NX'],
              ['PEXPIRE', tagKey, ttl, 'GT'],
            ];
          }),
        ]);
      } catch (error) {
        // Part of the batch may have landed (on a cluster, one master's part failed while another's
        // did not): an entry missing from one of its tag sets would outlive every purge of that tag.
        // So it goes, once every part has settled (`pipeline` waits for them). Best effort: if this
        // fails too, the entry lives until it expires.
        if (isRedisReady(client, entry)) await client.unlink(entry).catch(() => {});
        throw error;
      }
      const marks = [everythingMark, ...tags];
      // In the same round trip as the purge marks: whether any tag is still refilling.
      const answers = await pipeline(client, [
        ...marks.map((tag): KeyCommand => ['ZSCORE', markKey(tag), markMember]),
        ...(this.refillDelayMs > 0 ? marks.map((tag): KeyCommand => ['EXISTS', refillKey(tag)]) : []),
      ]);
      const purgedAt = answers.slice(0, marks.length);
      const refilling = answers.slice(marks.length).some((exists) => Number(exists) > 0);
      if (refilling || purgedAt.some((mark) => Number(mark ?? 0) > generation)) await client.unlink(entry);
    });
  }

  async purgeTags(tags: readonly string[]) {
    const purged = await this.redis.run(async (client) => {
      await markPurged(client, tags, this.refillDelayMs);
      const members = await pipeline(
        client,
        tags.map((tag) => ['ZRANGE', tagSetKey(tag), '0', '-1']),
      );
      const keys = new Set((members as string[][]).flat());
      const removed = await pipeline(client, [
        ...[...keys].map((key): KeyCommand => ['UNLINK', entryKey(key)]),
        ...tags.map((tag): KeyCommand => ['UNLINK', tagSetKey(tag)]),
      ]);
      return removed.slice(0, keys.size).reduce<number>((sum, count) => sum + Number(count), 0);
    });
    if (purged === undefined) throw new PurgeFailedError();
    return purged;
  }

  async purgeAll() {
    const purged = await this.redis.run(
      async (client) => {
        if (!isCluster(client)) {
          await markPurged(client, [everythingMark], this.refillDelayMs);
          return removeEverything(client, (keys) => client.unlink(keys));
        }
        // Every master is scanned, so a master down fails the purge before it begins.
        const masters = client.masters.flatMap((master) => (master.client?.isReady ? [master.client] : []));
        if (masters.length < client.masters.length) throw new Error('redis cluster: a master is not reachable');
        await markPurged(client, [everythingMark], this.refillDelayMs);
        // A scan sees the keys of the server it runs on, so every master is scanned, in parallel; and
        // a command on several keys must keep to one slot, so each key is unlinked on its own.
        const counts = await Promise.all(
          masters.map((node) => removeEverything(node, (keys) => Promise.all(keys.map((key) => node.unlink(key))))),
        );
        return counts.reduce((sum, count) => sum + count, 0);
      },
      { timeoutMs: 30_000 },
    );
    if (purged === undefined) throw new PurgeFailedError();
    return purged;
  }
}

/** A purge the store could not apply now: Redis, or a master of the cluster it needs, is unreachable. */
class PurgeFailedError extends Error {
  override readonly name = 'PurgeFailedError';
  constructor() {
    super('the response cache could not be purged: Redis, or a master of its cluster, is unreachable');
  }
}

const generationKey = 'rc:g';
const markMember = 'purged';

function markKey(tag: string) {
  return `rc:p:${tag}`;
}

/** Counts a purge and marks `tags` with the count, and as refilling, before anything is removed. */
async function markPurged(client: RedisClient, tags: readonly string[], refillDelayMs: number) {
  // A command of its own, outside `pipeline`: it asks, as `pipeline` does, whether its master is up.
  if (!isRedisReady(client, generationKey)) throw new Error('redis: the purge count’s master is not reachable');
  const generation = String(await client.incr(generationKey));
  await pipeline(
    client,
    tags.flatMap((tag): KeyCommand[] => [
      ['ZADD', markKey(tag), 'GT', generation, markMember],
      ['PEXPIRE', markKey(tag), String(purgeMarkTtlMs)],
      ...(refillDelayMs > 0 ? [['SET', refillKey(tag), '1', 'PX', String(refillDelayMs)] as KeyCommand] : []),
    ]),
  );
}

function refillKey(tag: string) {
  return `rc:r:${tag}`;
}

/**
 * Removes the entries and tag sets one server holds; resolves with how many
 * entries went. The purge count and marks stay: they must outlive a purge
 * of everything.
 */
async function removeEverything(server: RedisNodeClient, unlink: (keys: string[]) => Promise<unknown>) {
  let count = 0;
  for await (const keys of server.scanIterator({ MATCH: 'rc:[et]:*', COUNT: 1000 })) {
    if (keys.length === 0) continue;
    count += keys.filter((key) => key.startsWith('rc:e:')).length;
    await unlink(keys);
  }
  return count;
}

function digest(key: string) {
  return createHash('sha256').update(key).digest('hex');
}

function entryKey(key: string) {
  return `rc:e:${key}`;
}

function tagSetKey(tag: string) {
  return `rc:t:${tag}`;
}

function encodeEntry({ body, ...header }: CachedResponse): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(head.length);
  return Buffer.concat([length, head, body]);
}

function decodeEntry(value: Buffer): CachedResponse | undefined {
  if (value.length < 4) return undefined;
  const headLength = value.readUInt32BE(0);
  try {
    const header = JSON.parse(value.subarray(4, 4 + headLength).toString('utf8')) as Omit<CachedResponse, 'body'>;
    return { ...header, body: value.subarray(4 + headLength) };
  } catch {
    return undefined; // written by an incompatible version: a miss
  }
}
