import { asc, gt } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Database, DrizzleSchema } from '../db/database.ts';
import type { EventDefinition } from './define.ts';
import { recordEvents, type DatabaseTransaction } from './outbox.ts';

export interface RepublishOptions<TRow, TPayload> {
  /** The event that announces a row's state, recorded on its definition's stream. */
  event: EventDefinition<TPayload>;
  table: PgTable;
  /** The table's primary key column: rows are visited in its order, a batch per transaction. */
  id: PgColumn;
  /** What `event` says of `row`'s current state, as the subgraph's own changes announce it. */
  stateOf: (row: TRow) => { aggregateId: string; payload: TPayload };
  batchSize?: number;
}

/**
 * Records the current state of every row of `table` as events in the outbox,
 * for read models in other subgraphs that started after the events that
 * built this state were published and forgotten (a new deployment, a
 * rebuilt projection). Consumers keep only newer state, so running it twice,
 * or alongside live changes, changes nothing that is already current.
 *
 * Each batch locks its rows (`FOR SHARE`) while their events are recorded:
 * a concurrent change commits either before the batch reads the row, or
 * after, with an event of its own that is newer.
 */
export async function republishState<TSchema extends DrizzleSchema, TRow extends Record<string, unknown>, TPayload>(
  db: Database<TSchema>,
  { event, table, id, stateOf, batchSize = 500 }: RepublishOptions<TRow, TPayload>,
): Promise<number> {
  const key = columnKey(table, id);
  let after: unknown = null;
  let recorded = 0;
  for (;;) {
    const rows = await db.transaction(async (tx: DatabaseTransaction<TSchema>) => {
      const batch = (await (tx as unknown as Database<DrizzleSchema>)
        .select()
        .from(table)
        .where(after === null ? undefined : gt(id, after))
        .orderBy(asc(id))
        .limit(batchSize)
        .for('share')) as TRow[];
      await recordEvents(
        tx,
        event.stream,
        batch.map((row) => {
          const { aggregateId, payload } = stateOf(row);
          return event.create(aggregateId, payload);
        }),
      );
      return batch;
    });
    recorded += rows.length;
    if (rows.length < batchSize) return recorded;
    after = rows.at(-1)![key];
  }
}

/** The property name drizzle gives `column` in rows of `table`. */
function columnKey(table: PgTable, column: PgColumn): string {
  const entry = Object.entries(table).find(([, value]) => value === column);
  if (!entry) throw new TypeError(`column ${column.name} is not a column of the table`);
  return entry[0];
}
