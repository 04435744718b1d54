import { Gauge } from 'prom-client';
import { within, type Metrics } from '../metrics.ts';
import type { EventBus, EventBusStats } from './types.ts';

export interface EventMetricsOptions {
  metrics: Metrics;
  /** Null when the service runs without a bus: then only the outbox is measured. */
  bus: Pick<EventBus, 'stats'> | null;
  /** The streams this service consumes, each with the consumer group it reads them as. */
  consumed: ReadonlyArray<{ stream: string; group: string }>;
  /** Reads the age of this service's oldest unpublished event; null when it publishes nothing. */
  outboxAge: (() => Promise<number>) | null;
  /** Longest a scrape waits for the bus or the database before leaving these values out. Default: 1,000 ms. */
  timeoutMs?: number;
}

/**
 * Gauges of the event flow, read when Prometheus scrapes and not before:
 * stream length, pending and lag of each consumed stream for this service's
 * group, dead letters, and the age of the oldest event still in the outbox.
 * A bus slower than `timeoutMs` leaves its values out of that scrape (and
 * `events_bus_up` at 0), a database that slow makes the outbox age NaN,
 * rather than either holding the scrape up.
 */
export function registerEventMetrics({
  metrics,
  bus,
  consumed,
  outboxAge,
  timeoutMs = 1_000,
}: EventMetricsOptions): void {
  const registers = [metrics.registry];

  // prom-client collects every gauge of a scrape at once; the first to ask
  // starts one round of stats queries and the others share its answer.
  let round: Promise<Array<{ stream: string; group: string; stats: EventBusStats }> | null> | null = null;
  const statsOfThisScrape = () =>
    (round ??= within(
      timeoutMs,
      'event bus stats',
      Promise.all(
        consumed.map(async ({ stream, group }) => ({ stream, group, stats: await bus!.stats(stream, group) })),
      ),
    )
      .catch(() => null)
      .finally(() => {
        round = null;
      }));

  if (bus && consumed.length > 0) {
    /** A gauge set, at each scrape, from that scrape's stats; left empty when the bus did not answer. */
    const statsGauge = (
      name: string,
      help: string,
      labelNames: Array<'stream' | 'group'>,
      value: (stats: EventBusStats) => number | null,
    ) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          const answers = await statsOfThisScrape();
          this.reset();
          for (const { stream, group, stats } of answers ?? []) {
            const current = value(stats);
            if (current !== null) this.set(labelNames.includes('group') ? { stream, group } : { stream }, current);
          }
        },
      });

    statsGauge('events_stream_length', 'Entries in the stream.', ['stream'], (stats) => stats.length);
    statsGauge(
      'events_consumer_pending',
      'Events delivered to the consumer group and not yet acknowledged.',
      ['stream', 'group'],
      (stats) => stats.pending,
    );
    statsGauge(
      'events_consumer_lag',
      'Events in the stream the consumer group has not been delivered yet (absent when Redis cannot tell).',
      ['stream', 'group'],
      (stats) => stats.lag,
    );
    statsGauge(
      'events_dead_letters',
      'Events in the stream that exhausted their attempts (`<stream>.dead`), whichever group gave up on them.',
      ['stream'],
      (stats) => stats.deadLetters,
    );
    new Gauge({
      name: 'events_bus_up',
      help: 'Whether the event bus answered the stats queries of this scrape in time (1) or not (0).',
      registers,
      async collect() {
        this.set((await statsOfThisScrape()) === null ? 0 : 1);
      },
    });
  }

  if (outboxAge) {
    new Gauge({
      name: 'events_outbox_oldest_unpublished_age_seconds',
      help: 'Age of the oldest event recorded in the outbox and not yet published; 0 when all are published, NaN when the database did not answer in time.',
      registers,
      async collect() {
        // NaN, not 0: a gauge without labels always has a value, and 0 would say all is published.
        const age = await within(timeoutMs, 'outbox age', outboxAge()).catch(() => Number.NaN);
        this.set(age);
      },
    });
  }
}
