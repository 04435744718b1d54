import { withReplicas } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { Counter, Gauge } from 'prom-client';
import { isDatabaseUnavailable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Database, DrizzleSchema } from './database.ts';
import { parseLsn, type RecentWrite, type RecentWrites } from './read-your-writes.ts';

/**
 * Read replicas of a subgraph's Postgres, with read-your-writes.
 *
 * A request's reads go to one streaming replica, through drizzle's
 * `withReplicas`: selects and relational queries on the replica, and every
 * write, raw `execute` and transaction on the primary. The choice is made
 * once per request, so one request never mixes what two servers have
 * replayed, and is kept in the request's context (its `db`, and the loaders
 * built from it; platform/src/subgraph/read-replicas.ts).
 *
 * Read-your-writes: a replica shows the primary as it was a moment ago, so
 * a shopper who just placed an order could find it missing from their own
 * order history. After a signed-in caller's mutation the subgraph records
 * it, with how far the primary's WAL had got (`writePosition`), for a
 * bounded window (read-your-writes.ts). While the caller has such a record,
 * each of their requests reads from the chosen replica only if it has
 * replayed (`pg_last_wal_replay_lsn()`) everything the primary had when the
 * request began (`pg_current_wal_insert_lsn()`), and from the primary
 * otherwise. Everything, not only the caller's own write: a mutation has
 * consequences written later by event consumers (an order CONFIRMED once
 * inventory answers), which the caller learns of (a subscription) and then
 * reads, and which no record of theirs could name. It routes rather than
 * waits: a replica can stop replaying (paused, or lagging under load), and
 * a wait would turn its lag into request latency, or a timeout. The window
 * bounds the guarantee: once it is over, a replica that is behind can still
 * show a caller their past.
 *
 * A replica that cannot be reached is marked down for `replicaDownForMs`,
 * reads go to the other replicas or the primary meanwhile, and a statement
 * that failed on it for want of a connection is sent once more, to the
 * primary: a lost replica costs capacity, never an answer.
 */

/** How long read-your-writes lasts after a caller's write, unless `DB_READ_YOUR_WRITES_WINDOW_MS` says otherwise. */
export const defaultReadYourWritesWindowMs = 30_000;

/**
 * How long a reading of a WAL position is reused, so that a burst of
 * requests shares one query on the replica and one on the primary without
 * holding anyone back for long. Replay only moves forward, so an older
 * replay position can only send a caller to the primary when the replica
 * had in fact caught up, never the other way. An older primary position
 * errs the other way: a request may miss what the primary committed in the
 * last few ms before it began, as it would miss a commit just after; the
 * caller's own writes are still covered, by their recorded position.
 */
const positionMaxAgeMs = 5;

/**
 * How long an unreachable replica gets no reads. Once it is over, the
 * replica is probed in the background and gets reads again when the probe
 * answers, so requests never wait on a replica that is still gone.
 */
const replicaDownForMs = 5_000;

export interface ReadReplicaSettings {
  /** postgres:// URLs of streaming replicas of the primary, each with a pool like the primary's. */
  urls: string[];
  /** How long after a caller's write their reads stay with the primary unless a replica has caught up with it; 0 turns that off. */
  readYourWritesWindowMs: number;
}

/** Why a request reads where it does; the `reason` label of `db_read_requests_total`. */
export type ReadRoute<TReplica> =
  | {
      target: 'replica';
      replica: TReplica;
      /**
       * `no_recent_write`: anonymous, or no write within the window; `caught_up`: the
       * caller wrote within the window, and the replica has replayed all the primary had.
       */
      reason: 'no_recent_write' | 'caught_up';
    }
  | {
      target: 'primary';
      /**
       * `read_your_writes`: the caller wrote within the window, and the replica
       * has not replayed all the primary had (or the primary could not say how
       * far it is); `replica_down`: no replica can be reached; `write_unknown`:
       * whether the caller wrote within the window could not be looked up (Redis failed).
       */
      reason: 'read_your_writes' | 'replica_down' | 'write_unknown';
    };

export interface RouteReadsInput<TReplica> {
  /** The signed-in caller's id; null for an anonymous one, whose writes are not tracked. */
  caller: string | null;
  /** The replica this request would read from; null when every replica is down. */
  replica: TReplica | null;
  recentWrite: (caller: string) => Promise<RecentWrite>;
  /** How far the replica has replayed the primary's WAL; null when it never replayed any. Rejects when it cannot be asked. */
  replayed: (replica: TReplica) => Promise<bigint | null>;
  /** How far the primary's WAL has got (its insert position), read at most a few ms before the request. Rejects when it cannot be asked. */
  primaryPosition: () => Promise<bigint>;
}

/** Where one request reads: the rule above, apart from the pools and stores it asks. */
export async function routeReads<TReplica>({
  caller,
  replica,
  recentWrite,
  replayed,
  primaryPosition,
}: RouteReadsInput<TReplica>): Promise<ReadRoute<TReplica>> {
  if (replica === null) return { target: 'primary', reason: 'replica_down' };
  if (caller === null) return { target: 'replica', replica, reason: 'no_recent_write' };
  const write = await recentWrite(caller);
  switch (write.kind) {
    case 'none':
      return { target: 'replica', replica, reason: 'no_recent_write' };
    // "No record" would be a guess: fail toward consistency, not staleness.
    case 'unknown':
      return { target: 'primary', reason: 'write_unknown' };
    case 'at': {
      // Both at once: a replica that has replayed as far as the primary's reading has all the primary had when
      // it was read, whichever answered first.
      const [asked, primary] = await Promise.allSettled([replayed(replica), primaryPosition()]);
      if (asked.status === 'rejected') return { target: 'primary', reason: 'replica_down' };
      // Not knowing what the primary has, nothing vouches for the replica.
      if (primary.status === 'rejected') return { target: 'primary', reason: 'read_your_writes' };
      // The recorded position too: the primary's may be a reading from just before the caller's write committed.
      const needed = primary.value > write.position ? primary.value : write.position;
      return asked.value !== null && asked.value >= needed
        ? { target: 'replica', replica, reason: 'caught_up' }
        : { target: 'primary', reason: 'read_your_writes' };
    }
  }
}

export interface ReadReplicasOptions<TSchema extends DrizzleSchema> {
  primary: { db: Database<TSchema>; sql: postgres.Sql };
  /** Each replica's pool as drizzle would get it (observed as the primary's is), and where it is, for the log. */
  replicas: ReadonlyArray<{ location: string; sql: postgres.Sql }>;
  schema: TSchema;
  readYourWritesWindowMs: number;
  metrics?: Metrics | null;
  logger?: Logger | null;
}

interface Replica<TSchema extends DrizzleSchema> {
  location: string;
  sql: postgres.Sql;
  /** The request's `db` when it reads from this replica: its selects here, everything else on the primary. */
  reads: Database<TSchema>;
  /** When its reads may be tried again (performance.now()); null while it is up. */
  downUntil: number | null;
  probing: Promise<void> | null;
  replayed: { position: bigint | null; at: number } | null;
  replaying: Promise<bigint | null> | null;
}

/** The read replicas of one database, and the choice of where each request reads. */
export class ReadReplicas<TSchema extends DrizzleSchema> {
  readonly readYourWritesWindowMs: number;
  private readonly primary: ReadReplicasOptions<TSchema>['primary'];
  private readonly replicas: Array<Replica<TSchema>>;
  private readonly logger: Logger | null;
  private readonly routed: Counter<'target' | 'reason'> | null = null;
  private readonly retried: Counter | null = null;
  private next = 0;
  private closed = false;
  /** The last reading of the primary's position, answered or in flight, and when it was asked (performance.now()). */
  private primaryReading: { position: Promise<bigint>; askedAt: number } | null = null;

  constructor({
    primary,
    replicas,
    schema,
    readYourWritesWindowMs,
    metrics = null,
    logger = null,
  }: ReadReplicasOptions<TSchema>) {
    this.primary = primary;
    this.readYourWritesWindowMs = readYourWritesWindowMs;
    this.logger = logger;
    this.replicas = replicas.map(({ location, sql }) => {
      const replica: Replica<TSchema> = {
        location,
        sql,
        reads: primary.db,
        downUntil: null,
        probing: null,
        replayed: null,
        replaying: null,
      };
      const onReplica = drizzlePostgres({
        client: failingOverToPrimary(sql, primary.sql, {
          isDown: () => replica.downUntil !== null,
          failed: (error) => {
            this.retried?.inc();
            this.markDown(replica, error);
          },
        }),
        schema,
      });
      replica.reads = withReplicas(primary.db, [onReplica]);
      return replica;
    });
    if (metrics) {
      const registers = [metrics.registry];
      this.routed = new Counter({
        name: 'db_read_requests_total',
        help: 'GraphQL queries by where their reads went (target: replica or primary) and why (reason).',
        labelNames: ['target', 'reason'],
        registers,
      });
      this.retried = new Counter({
        name: 'db_replica_statements_retried_total',
        help: 'Statements that failed on a read replica for want of a connection and were sent again to the primary.',
        registers,
      });
      const all = this.replicas;
      new Gauge({
        name: 'db_read_replicas_up',
        help: 'Read replicas that get reads now: configured, and not marked down after a failed connection.',
        registers,
        collect() {
          this.set(all.filter((replica) => replica.downUntil === null).length);
        },
      });
    }
  }

  /**
   * The `db` one query request reads through, chosen as `routeReads` says
   * for `caller` (null: anonymous), whose last write `recentWrites` knows.
   */
  async readsFor(caller: string | null, recentWrites: RecentWrites): Promise<Database<TSchema>> {
    const route = await routeReads({
      caller,
      replica: this.pick(),
      recentWrite: (id) => recentWrites.lastWriteOf(id),
      replayed: (replica) => this.replayedBy(replica),
      primaryPosition: () => this.primaryPosition(),
    });
    this.routed?.inc({ target: route.target, reason: route.reason });
    return route.target === 'replica' ? route.replica.reads : this.primary.db;
  }

  /**
   * How far the primary's WAL has got: read after a write commits, it is at
   * or past that write's commit record. The insert position, not
   * `pg_current_wal_lsn()`'s write position: with `synchronous_commit = off`
   * a transaction commits before its WAL is written out, and the write
   * position can still be short of it.
   */
  async writePosition(): Promise<bigint> {
    const [row] = await this.primary.sql.unsafe<Array<{ lsn: string }>>(
      'select pg_current_wal_insert_lsn()::text as lsn',
    );
    return parseLsn(row!.lsn);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.replicas.flatMap((replica) => replica.probing ?? []));
    await Promise.all(this.replicas.map((replica) => replica.sql.end({ timeout: 5 })));
  }

  /** The next replica that is up, in turn, so the replicas share the reads; null when none is. */
  private pick(): Replica<TSchema> | null {
    for (let tried = 0; tried < this.replicas.length; tried++) {
      const replica = this.replicas[this.next++ % this.replicas.length]!;
      if (this.isUp(replica)) return replica;
    }
    return null;
  }

  private isUp(replica: Replica<TSchema>): boolean {
    if (replica.downUntil === null) return true;
    if (performance.now() >= replica.downUntil) this.probe(replica);
    return false;
  }

  /**
   * The primary's position, shared by the requests that begin within
   * `positionMaxAgeMs` of asking for it, whether it has answered yet or
   * not. Unlike a replay position, a reading in flight is joined only while
   * it is that young: a slow answer describes the primary as it was when it
   * was asked, and a request that began long after must not take it for now.
   */
  private primaryPosition(): Promise<bigint> {
    const now = performance.now();
    const reading = this.primaryReading;
    if (reading && now - reading.askedAt <= positionMaxAgeMs) return reading.position;
    const position = this.writePosition();
    this.primaryReading = { position, askedAt: now };
    // A failed reading is not reused: the next request asks again.
    void position.catch(() => {
      if (this.primaryReading?.position === position) this.primaryReading = null;
    });
    return position;
  }

  private replayedBy(replica: Replica<TSchema>): Promise<bigint | null> {
    const reading = replica.replayed;
    if (reading && performance.now() - reading.at <= positionMaxAgeMs) return Promise.resolve(reading.position);
    return (replica.replaying ??= this.askReplayed(replica).finally(() => {
      replica.replaying = null;
    }));
  }

  private async askReplayed(replica: Replica<TSchema>): Promise<bigint | null> {
    // Stamped when asked: the answer is at least as far as the replica was then.
    const at = performance.now();
    try {
      const [row] = await replica.sql.unsafe<Array<{ lsn: string | null }>>(
        'select pg_last_wal_replay_lsn()::text as lsn',
      );
      // Null only on a server that never was in recovery (a primary listed by mistake): it cannot vouch for any write.
      // A promoted replica answers the last position it replayed, forever: it never catches up with the primary's
      // position again, so recent writers read from the primary; everyone else reads its frozen past
      // (docs/scaling.md says to take it out of the list).
      const position = row?.lsn ? parseLsn(row.lsn) : null;
      replica.replayed = { position, at };
      return position;
    } catch (error) {
      if (isDatabaseUnavailable(error)) this.markDown(replica, error);
      throw error;
    }
  }

  private markDown(replica: Replica<TSchema>, error: unknown): void {
    const wasUp = replica.downUntil === null;
    replica.downUntil = performance.now() + replicaDownForMs;
    replica.replayed = null;
    // Once per outage: the requests it fails meanwhile are served by the primary and say nothing.
    if (wasUp) {
      this.logger?.warn(
        { replica: replica.location, err: error },
        'read replica unreachable; its reads go to the primary until it answers again',
      );
    }
  }

  private probe(replica: Replica<TSchema>): void {
    if (replica.probing || this.closed) return;
    replica.probing = this.askReplayed(replica).then(
      () => {
        replica.downUntil = null;
        this.logger?.info({ replica: replica.location }, 'read replica answers again; reads go to it');
      },
      () => {
        replica.downUntil = performance.now() + replicaDownForMs;
      },
    );
    void replica.probing.finally(() => {
      replica.probing = null;
    });
  }
}

export interface ReplicaHealth {
  /** The replica is marked down: send to the primary without trying it. */
  isDown(): boolean;
  /** A statement failed on the replica for want of a connection, and goes to the primary. */
  failed(error: unknown): void;
}

/**
 * A replica's postgres.js client as drizzle sees it: while the replica is
 * marked down its statements go to the primary, and one that fails on it
 * for want of a connection (refused, reset, timed out connecting, the
 * server shutting down: `isDatabaseUnavailable`) is sent once more, to the
 * primary. An SQL error is the statement's own and is not retried: the
 * primary would answer it the same way. Only reads reach a replica's
 * client (`withReplicas` sends writes and transactions to the primary), so
 * sending one twice changes nothing.
 */
export function failingOverToPrimary(
  replica: postgres.Sql,
  primary: postgres.Sql,
  health: ReplicaHealth,
): postgres.Sql {
  return new Proxy(replica, {
    get(target, property, receiver) {
      if (property !== 'unsafe') return Reflect.get(target, property, receiver);
      return (...args: Parameters<postgres.Sql['unsafe']>) =>
        health.isDown()
          ? primary.unsafe(...args)
          : sentAgainOnFailure(target.unsafe(...args), () => primary.unsafe(...args), health);
    },
  });
}

/**
 * `query`, sent when first awaited as postgres.js sends it, and on a
 * connection failure replaced by `resend()`, with the calls drizzle chained
 * on the first (`.values()`) made on the second too.
 */
function sentAgainOnFailure<T extends PromiseLike<unknown>>(query: T, resend: () => T, health: ReplicaHealth): T {
  const chained: Array<{ property: PropertyKey; args: unknown[] }> = [];
  let answer: Promise<unknown> | undefined;
  const send = async () => {
    try {
      return await query;
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      health.failed(error);
      let again = resend() as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>;
      for (const { property, args } of chained) again = again[property]!(...args) as typeof again;
      return await (again as unknown as PromiseLike<unknown>);
    }
  };
  const answered = () => (answer ??= send());
  const wrapper: T = new Proxy(query, {
    get(target, property) {
      if (property === 'then') {
        return (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) =>
          answered().then(onFulfilled, onRejected);
      }
      if (property === 'catch') return (onRejected?: (reason: unknown) => unknown) => answered().catch(onRejected);
      if (property === 'finally') return (onFinally?: () => void) => answered().finally(onFinally);
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        if (result !== target) return result;
        chained.push({ property, args });
        return wrapper;
      };
    },
  });
  return wrapper;
}
