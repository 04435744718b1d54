import { and, asc, desc, getTableColumns, inArray, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Database, DrizzleSchema } from './database.ts';

export type SortDirection = 'asc' | 'desc';

/**
 * A keyset ordering: a sort column with the primary key as tie-breaker, both
 * in one direction, so "after this row" is a single row-value comparison
 * that an index on (sort, id) answers directly.
 */
export interface Keyset {
  sort: AnyPgColumn;
  id: AnyPgColumn;
  direction: SortDirection;
}

export function keysetOrderBy({ sort, id, direction }: Keyset): SQL[] {
  const by = direction === 'asc' ? asc : desc;
  return sort === id ? [by(id)] : [by(sort), by(id)];
}

/** Rows strictly after the position `[sortValue, idValue]` in this ordering. */
export function keysetAfter({ sort, id, direction }: Keyset, position: readonly [unknown, unknown]): SQL {
  const op = direction === 'asc' ? sql.raw('>') : sql.raw('<');
  const [sortValue, idValue] = position;
  return sql`(${sort}, ${id}) ${op} (${sql.param(sortValue, sort)}, ${sql.param(idValue, id)})`;
}

export interface PagePerParentQuery<TTable extends PgTable> {
  table: TTable;
  /** The foreign key that groups children under a parent. */
  parent: AnyPgColumn;
  parentIds: readonly string[];
  keyset: Keyset;
  /** Position to start after, the same for every parent. */
  after: readonly [unknown, unknown] | null;
  /** Page size; one more row per parent is fetched to tell whether a next page exists. */
  limit: number;
}

/**
 * One page of children for each of many parents, in a single statement:
 * rows are ranked within their parent and cut at `limit + 1`. With an index
 * on (parent, sort, id) Postgres stops each partition early.
 */
export async function selectPagePerParent<TTable extends PgTable>(
  db: Database<DrizzleSchema>,
  { table, parent, parentIds, keyset, after, limit }: PagePerParentQuery<TTable>,
): Promise<TTable['$inferSelect'][]> {
  if (parentIds.length === 0) return [];
  const order = sql.join(keysetOrderBy(keyset), sql`, `);
  const columns: Record<string, AnyPgColumn | SQL.Aliased> = {
    ...getTableColumns(table),
    pageRank: sql<number>`row_number() over (partition by ${parent} order by ${order})`.as('page_rank'),
  };
  // drizzle cannot type a subquery over a generic table; the row shape is the table's.
  const ranked = db
    .select(columns)
    .from(table as PgTable)
    .where(and(inArray(parent, [...parentIds]), after ? keysetAfter(keyset, after) : undefined))
    .as('ranked') as unknown as PgTable;
  const rows = (await db
    .select()
    .from(ranked)
    .where(sql`page_rank <= ${limit + 1}`)
    .orderBy(sql`page_rank`)) as Array<Record<string, unknown>>;
  return rows.map(({ pageRank: _rank, ...row }) => row as TTable['$inferSelect']);
}
