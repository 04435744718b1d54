import type postgres from 'postgres';
import { describe, expect, it, vi } from 'vitest';
import {
  inProcessRecentWrites,
  parseLsn,
  recentWriteKey,
  redisRecentWrites,
  type RecentWrite,
} from '../src/db/read-your-writes.ts';
import { failingOverToPrimary, routeReads, type RouteReadsInput } from '../src/db/replicas.ts';
import { until } from '../../test/support/until.ts';
import { FakeQuery, fakeRedis } from './read-replicas-fakes.ts';

/**
 * Where a request reads when the subgraph has replicas, apart from any
 * server: the rule (db/replicas.ts `routeReads`), the write positions it
 * compares (db/read-your-writes.ts), and the replica client that sends a
 * statement again to the primary when the replica cannot be reached. The
 * same against a real replica: test/read-replicas.int.test.ts.
 */

const replica = { name: 'replica-1' };

function route(
  input: Partial<RouteReadsInput<typeof replica>> & {
    write?: RecentWrite;
    replayedAt?: bigint | null | Error;
    /** Where the primary's WAL is; by default where the caller's write left it. */
    primaryAt?: bigint | Error;
  },
) {
  const recentWrite = vi.fn(async () => input.write ?? ({ kind: 'none' } as RecentWrite));
  const replayed = vi.fn(async () => {
    if (input.replayedAt instanceof Error) throw input.replayedAt;
    return input.replayedAt ?? null;
  });
  const primaryPosition = vi.fn(async () => {
    if (input.primaryAt instanceof Error) throw input.primaryAt;
    return input.primaryAt ?? (input.write?.kind === 'at' ? input.write.position : 0n);
  });
  const routed = routeReads({
    caller: input.caller === undefined ? 'shopper-1' : input.caller,
    replica: input.replica === undefined ? replica : input.replica,
    recentWrite,
    replayed,
    primaryPosition,
  });
  return { routed, recentWrite, replayed, primaryPosition };
}

describe('where a request reads', () => {
  it('reads from the primary when no replica is up, without looking anything up', async () => {
    const { routed, recentWrite, replayed } = route({ replica: null, write: { kind: 'at', position: 5n } });
    await expect(routed).resolves.toEqual({ target: 'primary', reason: 'replica_down' });
    expect(recentWrite).not.toHaveBeenCalled();
    expect(replayed).not.toHaveBeenCalled();
  });

  it('reads an anonymous caller from the replica: they have no identity to track writes by', async () => {
    const { routed, recentWrite } = route({ caller: null });
    await expect(routed).resolves.toEqual({ target: 'replica', replica, reason: 'no_recent_write' });
    expect(recentWrite).not.toHaveBeenCalled();
  });

  it('reads a caller with no write in the window from the replica, without asking the replica or the primary how far it is', async () => {
    const { routed, recentWrite, replayed, primaryPosition } = route({ write: { kind: 'none' } });
    await expect(routed).resolves.toEqual({ target: 'replica', replica, reason: 'no_recent_write' });
    expect(recentWrite).toHaveBeenCalledWith('shopper-1');
    expect(replayed).not.toHaveBeenCalled();
    expect(primaryPosition).not.toHaveBeenCalled();
  });

  it.each([
    { replayedAt: 100n, expected: { target: 'replica', replica, reason: 'caught_up' } },
    { replayedAt: 101n, expected: { target: 'replica', replica, reason: 'caught_up' } },
    { replayedAt: 99n, expected: { target: 'primary', reason: 'read_your_writes' } },
    { replayedAt: null, expected: { target: 'primary', reason: 'read_your_writes' } },
  ])(
    'reads a caller who wrote up to 100 from the replica only once it has replayed that far (replayed: $replayedAt)',
    async ({ replayedAt, expected }) => {
      const { routed, replayed } = route({ write: { kind: 'at', position: 100n }, replayedAt });
      await expect(routed).resolves.toEqual(expected);
      expect(replayed).toHaveBeenCalledWith(replica);
    },
  );

  it.each([
    { primaryAt: 150n, replayedAt: 120n, expected: { target: 'primary', reason: 'read_your_writes' } },
    { primaryAt: 150n, replayedAt: 150n, expected: { target: 'replica', replica, reason: 'caught_up' } },
    { primaryAt: 150n, replayedAt: 151n, expected: { target: 'replica', replica, reason: 'caught_up' } },
  ])(
    'reads a caller who wrote up to 100 from the replica only once it has replayed all the primary has, what consumers wrote after them too (primary: $primaryAt, replayed: $replayedAt)',
    async ({ primaryAt, replayedAt, expected }) => {
      const { routed, primaryPosition } = route({ write: { kind: 'at', position: 100n }, primaryAt, replayedAt });
      await expect(routed).resolves.toEqual(expected);
      expect(primaryPosition).toHaveBeenCalledTimes(1);
    },
  );

  it('holds a replica to the caller’s own write when the primary’s reading is older than it', async () => {
    const { routed } = route({ write: { kind: 'at', position: 100n }, primaryAt: 90n, replayedAt: 95n });
    await expect(routed).resolves.toEqual({ target: 'primary', reason: 'read_your_writes' });
  });

  it('reads a caller who wrote within the window from the primary when the primary cannot say how far it is', async () => {
    const { routed } = route({
      write: { kind: 'at', position: 100n },
      primaryAt: new Error('connection refused'),
      replayedAt: 1_000n,
    });
    await expect(routed).resolves.toEqual({ target: 'primary', reason: 'read_your_writes' });
  });

  it('reads from the primary when the caller’s last write cannot be looked up: consistency over staleness', async () => {
    const { routed } = route({ write: { kind: 'unknown' } });
    await expect(routed).resolves.toEqual({ target: 'primary', reason: 'write_unknown' });
  });

  it('reads from the primary when the replica cannot say how far it is', async () => {
    const { routed } = route({ write: { kind: 'at', position: 1n }, replayedAt: new Error('connection refused') });
    await expect(routed).resolves.toEqual({ target: 'primary', reason: 'replica_down' });
  });
});

describe('WAL positions', () => {
  it('compare as numbers, the high half first', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe(0x16_b374d848n);
    expect(parseLsn('1/0')).toBeGreaterThan(parseLsn('0/FFFFFFFF'));
    expect(parseLsn('0/1a')).toBe(26n);
  });

  it.each(['', '0', '0/', '/1', 'G/0', '1/2/3', '123456789/0'])('refuses %j', (lsn) => {
    expect(() => parseLsn(lsn)).toThrow(/not a Postgres LSN/);
  });
});

describe('write positions kept in process', () => {
  it('knows a caller’s last write, and no one else’s', async () => {
    const writes = inProcessRecentWrites({ windowMs: 60_000 });
    expect(await writes.record('alice', 10n)).toBe(true);
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 10n });
    expect(await writes.lastWriteOf('bob')).toEqual({ kind: 'none' });
  });

  it('keeps the later position when two writes record out of order', async () => {
    const writes = inProcessRecentWrites({ windowMs: 60_000 });
    await writes.record('alice', 20n);
    await writes.record('alice', 10n);
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 20n });
    await writes.record('alice', 30n);
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 30n });
  });

  it('forgets a write once its window is over', async () => {
    const writes = inProcessRecentWrites({ windowMs: 50 });
    await writes.record('alice', 10n);
    await until(async () => (await writes.lastWriteOf('alice')).kind === 'none', {
      timeoutMs: 10_000,
      what: 'the write forgotten after its window',
    });
  });

  it('remembers at most `maxCallers`, forgetting the least recently written-for', async () => {
    const writes = inProcessRecentWrites({ windowMs: 60_000, maxCallers: 2 });
    await writes.record('alice', 1n);
    await writes.record('bob', 2n);
    await writes.record('carol', 3n);
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'none' });
    expect(await writes.lastWriteOf('carol')).toEqual({ kind: 'at', position: 3n });
  });
});

describe('write positions kept in Redis', () => {
  it('are unknown, not absent, while there is no Redis to ask, and say a record failed', async () => {
    const writes = redisRecentWrites({ redis: () => null, subgraph: 'orders', windowMs: 30_000 });
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'unknown' });
    expect(await writes.record('alice', 1n)).toBe(false);
  });

  it('keeps a record that Redis refused in this process, and finds it once Redis answers again', async () => {
    const { redis, state } = fakeRedis();
    const writes = redisRecentWrites({ redis: () => redis, subgraph: 'orders', windowMs: 60_000 });
    state.down = true;
    expect(await writes.record('alice', 7n)).toBe(false);
    // A failed lookup is still unknown, record or not: another instance may know of a later write.
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'unknown' });
    state.down = false;
    expect(state.keys.size).toBe(0);
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 7n });
    expect(await writes.lastWriteOf('bob')).toEqual({ kind: 'none' });
  });

  it('takes the later of the position in Redis and the one kept here', async () => {
    const { redis, state } = fakeRedis();
    const writes = redisRecentWrites({ redis: () => redis, subgraph: 'orders', windowMs: 60_000 });
    await writes.record('alice', 10n);
    // Another instance recorded a later write of hers.
    state.keys.set(recentWriteKey('orders', 'alice'), 20n.toString(16).padStart(16, '0'));
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 20n });
    state.down = true;
    await writes.record('alice', 30n);
    state.down = false;
    expect(await writes.lastWriteOf('alice')).toEqual({ kind: 'at', position: 30n });
  });

  it('forgets the record kept here once its window is over', async () => {
    const { redis, state } = fakeRedis();
    const writes = redisRecentWrites({ redis: () => redis, subgraph: 'orders', windowMs: 50 });
    state.down = true;
    await writes.record('alice', 7n);
    state.down = false;
    await until(async () => (await writes.lastWriteOf('alice')).kind === 'none', {
      timeoutMs: 10_000,
      what: 'the record kept in process forgotten after its window',
    });
  });
});

function fakeClient(answer: () => Promise<unknown>) {
  const sent: Array<{ args: unknown[]; query: FakeQuery }> = [];
  const client = {
    unsafe: (...args: unknown[]) => {
      const query = new FakeQuery(answer);
      sent.push({ args, query });
      return query;
    },
  } as unknown as postgres.Sql;
  return { client, sent };
}

const failure = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });

describe('a statement on a replica', () => {
  function setUp(replicaAnswer: () => Promise<unknown>, down = false) {
    const onReplica = fakeClient(replicaAnswer);
    const onPrimary = fakeClient(async () => [['from the primary']]);
    const failed = vi.fn();
    const client = failingOverToPrimary(onReplica.client, onPrimary.client, { isDown: () => down, failed });
    return { onReplica, onPrimary, failed, client };
  }

  it('is answered by the replica when it can be', async () => {
    const { onPrimary, failed, client } = setUp(async () => [['from the replica']]);
    await expect(client.unsafe('select 1', [], { prepare: true }).values()).resolves.toEqual([['from the replica']]);
    expect(onPrimary.sent).toEqual([]);
    expect(failed).not.toHaveBeenCalled();
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', '57P01', '08006'])(
    'is sent once more, to the primary, with the same chained calls, when the replica fails to connect (%s)',
    async (code) => {
      const { onReplica, onPrimary, failed, client } = setUp(async () => {
        throw failure(code);
      });
      await expect(client.unsafe('select $1', [7], { prepare: true }).values()).resolves.toEqual([
        ['from the primary'],
      ]);
      expect(onReplica.sent).toHaveLength(1);
      expect(onPrimary.sent.map(({ args, query }) => ({ args, chained: query.chained }))).toEqual([
        { args: ['select $1', [7], { prepare: true }], chained: ['values'] },
      ]);
      expect(failed).toHaveBeenCalledTimes(1);
      expect(failed.mock.calls[0]![0]).toMatchObject({ code });
    },
  );

  it('fails as it is when the statement itself is wrong: the primary would answer the same', async () => {
    const { onPrimary, failed, client } = setUp(async () => {
      throw failure('42P01');
    });
    await expect(client.unsafe('select * from missing')).rejects.toMatchObject({ code: '42P01' });
    expect(onPrimary.sent).toEqual([]);
    expect(failed).not.toHaveBeenCalled();
  });

  it('goes straight to the primary while the replica is marked down', async () => {
    const { onReplica, onPrimary, client } = setUp(async () => [['from the replica']], true);
    await expect(client.unsafe('select 1')).resolves.toEqual([['from the primary']]);
    expect(onReplica.sent).toEqual([]);
    expect(onPrimary.sent).toHaveLength(1);
  });

  it('is sent when first awaited, and once, however often it is awaited', async () => {
    let sends = 0;
    const { client } = setUp(async () => [[++sends]]);
    const query = client.unsafe('select 1');
    expect(sends).toBe(0);
    await query;
    await query;
    expect(sends).toBe(1);
  });
});
