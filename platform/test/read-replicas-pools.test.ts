import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { inProcessRecentWrites, type RecentWrites } from '../src/db/read-your-writes.ts';
import { fakeReadReplicas, whoServes, type FakePool } from './read-replicas-fakes.ts';
import { until } from '../../test/support/until.ts';

/**
 * `ReadReplicas` over fake pools (read-replicas-fakes.ts): which replica a
 * request reads from, in turn and around one that is down, and how often
 * it asks the replicas and the primary how far they are. Time is
 * performance.now(), faked so that the 5 ms and 5 s of replicas.ts pass
 * when a test says so. The rule itself: read-replicas.test.ts; the same on
 * a real replica: test/read-replicas.int.test.ts.
 */

const replayQuery = 'pg_last_wal_replay_lsn()';
const primaryQuery = 'pg_current_wal_insert_lsn()';
/** replicas.ts's `replicaDownForMs`. */
const replicaDownForMs = 5_000;

function setUp(names: string[]) {
  const fake = fakeReadReplicas(names);
  const writes = inProcessRecentWrites({ windowMs: 60_000 });
  /** Which server serves a request of `caller`'s. */
  const serves = async (caller: string | null = null, recentWrites: RecentWrites = writes) =>
    whoServes(await fake.replicas.readsFor(caller, recentWrites));
  return { ...fake, writes, serves };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['performance'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('which replica a request reads from', () => {
  it('takes the replicas in turn', async () => {
    const { serves, replicaPools } = setUp(['replica-1', 'replica-2', 'replica-3']);
    const served: string[] = [];
    for (let request = 0; request < 6; request++) served.push(await serves());
    expect(served).toEqual(['replica-1', 'replica-2', 'replica-3', 'replica-1', 'replica-2', 'replica-3']);
    // Anonymous callers: no replica was asked how far it is.
    for (const pool of replicaPools) expect(pool.count(replayQuery)).toBe(0);
  });

  it('skips a replica that failed to connect, and gives it reads again once a probe after 5 s is answered', async () => {
    const { serves, replicaPools, log } = setUp(['replica-1', 'replica-2']);
    const [first, second] = replicaPools as [FakePool, FakePool];
    first.refusing = true;
    // Its turn: the select fails on it and is sent to the primary, and it is marked down.
    expect(await serves()).toBe('primary');
    const sentToFirst = first.sent.length;
    expect([await serves(), await serves(), await serves()]).toEqual(['replica-2', 'replica-2', 'replica-2']);
    expect(first.sent).toHaveLength(sentToFirst);

    // Its 5 s are over while it still refuses: a request that comes to it starts a probe, in the background,
    // and is served by the other; the probe fails, and it stays out for 5 s more.
    vi.advanceTimersByTime(replicaDownForMs);
    await until(
      async () => {
        expect(await serves()).toBe('replica-2');
        return first.count(replayQuery) === 1;
      },
      { what: 'the first probe' },
    );
    for (let request = 0; request < 4; request++) expect(await serves()).toBe('replica-2');
    expect(first.count(replayQuery)).toBe(1);

    first.refusing = false;
    vi.advanceTimersByTime(replicaDownForMs);
    await until(async () => (await serves()) === 'replica-1', { what: 'reads on replica-1 after its probe' });
    expect(first.count(replayQuery)).toBe(2);
    const served = [await serves(), await serves(), await serves(), await serves()];
    expect(served.sort()).toEqual(['replica-1', 'replica-1', 'replica-2', 'replica-2']);
    expect(second.count(replayQuery)).toBe(0);
    expect(log.filter(({ msg }) => String(msg).startsWith('read replica unreachable'))).toHaveLength(1);
    expect(log.filter(({ msg }) => String(msg).startsWith('read replica answers again'))).toHaveLength(1);
  });

  it('reads from the primary when every replica is down', async () => {
    const { serves, replicaPools, reads } = setUp(['replica-1']);
    replicaPools[0]!.refusing = true;
    expect(await serves()).toBe('primary');
    expect(await serves()).toBe('primary');
    expect(await reads('primary', 'replica_down')).toBe(1);
  });
});

describe('read-your-writes over the pools', () => {
  it('holds a recent writer to the primary’s position now, not to their record; others read the replica', async () => {
    const { serves, primary, replicaPools, writes, reads } = setUp(['replica-1']);
    await writes.record('alice', 0x10n);
    // The replica has replayed her write, but not what the primary has written since (a consumer, say).
    replicaPools[0]!.lsn = '0/20';
    primary.lsn = '0/30';
    expect(await serves('alice')).toBe('primary');
    expect(await reads('primary', 'read_your_writes')).toBe(1);
    expect(await serves('bob')).toBe('replica-1');
    expect(await serves(null)).toBe('replica-1');

    replicaPools[0]!.lsn = '0/30';
    vi.advanceTimersByTime(10);
    expect(await serves('alice')).toBe('replica-1');
    expect(await reads('replica', 'caught_up')).toBe(1);
  });

  it('reads from the primary when the primary cannot say how far it is', async () => {
    const { serves, primary, replicaPools, writes } = setUp(['replica-1']);
    await writes.record('alice', 0x10n);
    replicaPools[0]!.lsn = '0/30';
    primary.lsn = new Error('canceling statement due to statement timeout');
    expect(await serves('alice')).toBe('primary');
    expect(await serves('bob')).toBe('replica-1');
  });

  it('asks each server once for a burst of requests, and again once the reading is 5 ms old', async () => {
    const { serves, primary, replicaPools, writes, reads } = setUp(['replica-1']);
    const replica = replicaPools[0]!;
    await writes.record('alice', 0x10n);
    primary.lsn = '0/20';
    replica.lsn = '0/20';
    const burst = await Promise.all(Array.from({ length: 10 }, () => serves('alice')));
    expect(burst).toEqual(Array.from({ length: 10 }, () => 'replica-1'));
    expect(await reads('replica', 'caught_up')).toBe(10);
    expect([replica.count(replayQuery), primary.count(primaryQuery)]).toEqual([1, 1]);

    vi.advanceTimersByTime(4);
    await serves('alice');
    expect([replica.count(replayQuery), primary.count(primaryQuery)]).toEqual([1, 1]);

    vi.advanceTimersByTime(2);
    await serves('alice');
    expect([replica.count(replayQuery), primary.count(primaryQuery)]).toEqual([2, 2]);
  });

  it('does not let a request that began 5 ms after the primary was asked share that reading', async () => {
    const { serves, primary, replicaPools, writes } = setUp(['replica-1']);
    await writes.record('alice', 0x10n);
    primary.lsn = '0/20';
    replicaPools[0]!.lsn = '0/20';
    let answer!: () => void;
    primary.hold = new Promise((resolve) => (answer = resolve));
    const early = serves('alice');
    await until(() => primary.count(primaryQuery) === 1, { what: 'the primary asked' });
    vi.advanceTimersByTime(2);
    const alongside = serves('alice');
    vi.advanceTimersByTime(4);
    const late = serves('alice');
    await until(() => primary.count(primaryQuery) === 2, { what: 'the primary asked again' });
    answer();
    expect(await Promise.all([early, alongside, late])).toEqual(['replica-1', 'replica-1', 'replica-1']);
    expect(primary.count(primaryQuery)).toBe(2);
  });
});
