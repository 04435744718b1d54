import { and, asc, desc, eq, getTableColumns, sql, type SQL } from 'drizzle-orm';
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
  return [by(sort), by(id)];
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
 * One page of children for each of many parents, in a single statement: for
 * each parent id, a LATERAL subquery takes the first `limit + 1` children
 * after the position. With an index on (parent, sort, id) each parent costs
 * one index range scan that stops at the page size, however many children
 * it has.
 */
export async function selectPagePerParent<TTable extends PgTable>(
  db: Database<DrizzleSchema>,
  { table, parent, parentIds, keyset, after, limit }: PagePerParentQuery<TTable>,
): Promise<TTable['$inferSelect'][]> {
  if (parentIds.length === 0) return [];
  const parents = sql`unnest(array[${sql.join(
    parentIds.map((id) => sql`${id}`),
    sql`, `,
  )}]::uuid[]) as parent(id)`;
  const page = db
    .select()
    .from(table as PgTable)
    .where(and(eq(parent, sql`parent.id`), after ? keysetAfter(keyset, after) : undefined))
    .orderBy(...keysetOrderBy(keyset))
    .limit(limit + 1)
    .as('page');
  // Select the subquery's columns under the table's own field names, so rows decode as table rows.
  const fields = Object.fromEntries(
    Object.keys(getTableColumns(table)).map((key) => [key, (page as unknown as Record<string, AnyPgColumn>)[key]!]),
  );
  return (await db.select(fields).from(parents).crossJoinLateral(page)) as TTable['$inferSelect'][];
}

export interface PageQuery<TTable extends PgTable> {
  table: TTable;
  /** The list's filter, if any. */
  where?: SQL | undefined;
  keyset: Keyset;
  after: readonly [unknown, unknown] | null;
  limit: number;
}

/** One page of a top-level list: `limit + 1` rows after the position, so the extra row tells of a next page. */
export async function selectPage<TTable extends PgTable>(
  db: Database<DrizzleSchema>,
  { table, where, keyset, after, limit }: PageQuery<TTable>,
): Promise<TTable['$inferSelect'][]> {
  return (await db
    .select()
    .from(table as PgTable)
    .where(and(where, after ? keysetAfter(keyset, after) : undefined))
    .orderBy(...keysetOrderBy(keyset))
    .limit(limit + 1)) as TTable['$inferSelect'][];
}
