import { Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../metrics.ts';

/**
 * Statement durations and pool use of one database handle.
 *
 * postgres.js keeps its pool's state (open, busy, reserved connections) in
 * private closures and has no hook for a statement's end (porsager/postgres
 * #443 asks for one), so both are counted where drizzle hands statements to
 * the driver (see database.ts): a statement is in flight from when it is
 * sent until it settles, and a transaction holds one connection of its own
 * from `begin` to commit or rollback. postgres.js may pipeline several
 * statements on one connection, so "in use" is an upper estimate, capped at
 * the pool's size; a lasting `db_queries_in_flight` above the pool size means
 * statements queue for a connection.
 */
export class DatabaseMetrics {
  private readonly counts = {
    inFlight: 0,
    /** Statements in flight that are not part of a transaction: each needs a connection of its own. */
    inFlightAlone: 0,
    transactions: 0,
  };
  private readonly durations: Histogram<'outcome'>;

  constructor(metrics: Metrics, poolMax: number) {
    const registers = [metrics.registry];
    // The gauges read the counts at scrape time: the hot path only counts.
    const counts = this.counts;
    new Gauge({
      name: 'db_pool_connections_max',
      help: "Connections the database's pools may open: the primary's and any read replicas' (1 for the embedded PGlite).",
      registers,
      collect() {
        this.set(poolMax);
      },
    });
    new Gauge({
      name: 'db_pool_connections_in_use',
      help: 'Connections busy with a statement or held by a transaction (an upper estimate, at most the pool size).',
      registers,
      collect() {
        this.set(Math.min(poolMax, counts.transactions + counts.inFlightAlone));
      },
    });
    new Gauge({
      name: 'db_queries_in_flight',
      help: 'Statements sent and not yet answered, including those waiting for a connection.',
      registers,
      collect() {
        this.set(counts.inFlight);
      },
    });
    this.durations = new Histogram({
      name: 'db_query_duration_seconds',
      help: 'Statements from being sent to their answer, including any wait for a connection, by outcome (ok or error).',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
  }

  /** Runs one statement, counted and timed; `inTransaction` when it runs on a transaction's connection. */
  async statement<T>(inTransaction: boolean, run: () => PromiseLike<T>): Promise<T> {
    const started = performance.now();
    this.counts.inFlight++;
    if (!inTransaction) this.counts.inFlightAlone++;
    let outcome = 'error';
    try {
      const result = await run();
      outcome = 'ok';
      return result;
    } finally {
      this.counts.inFlight--;
      if (!inTransaction) this.counts.inFlightAlone--;
      this.durations.observe({ outcome }, (performance.now() - started) / 1000);
    }
  }

  /** Runs one transaction, counted as holding a connection until it ends. */
  async transaction<T>(run: () => PromiseLike<T>): Promise<T> {
    this.counts.transactions++;
    try {
      return await run();
    } finally {
      this.counts.transactions--;
    }
  }
}
