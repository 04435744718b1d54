import { and, count, eq, gte, ilike, lte, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../../platform/src/db/database.ts';
import { selectPage, type Keyset } from '../../../platform/src/db/keyset.ts';
import { badUserInput } from '../../../platform/src/errors.ts';
import {
  cursorCodec,
  cursorTimestamp,
  parsePage,
  toConnection,
  type CursorCodec,
  type PageArgs,
} from '../../../platform/src/graphql/pagination.ts';
import * as tables from './db/schema.ts';
import type { ProductRow } from './db/schema.ts';

const { categories, products } = tables;

export type ProductOrder = 'NEWEST' | 'PRICE_ASC' | 'PRICE_DESC' | 'NAME_ASC';

export interface ProductFilter {
  category?: string | null;
  minPrice?: number | null;
  maxPrice?: number | null;
  search?: string | null;
}

const maxSearchLength = 100;

/** An ordering of the catalog: its keyset, and a cursor format of its own so cursors never cross orderings. */
interface Ordering {
  keyset: Keyset;
  cursor: CursorCodec<never, readonly [unknown, string]>;
  cursorOf: (row: ProductRow) => string;
}

function defineOrdering<TSort extends z.ZodType>(
  name: ProductOrder,
  keyset: Keyset,
  sortValue: TSort,
  positionOf: (row: ProductRow) => [z.input<TSort>, string],
): Ordering {
  const cursor = cursorCodec(`products:${name}`, z.tuple([sortValue, z.uuid()]));
  return { keyset, cursor, cursorOf: (row) => cursor.encode(positionOf(row)) };
}

const orderings: Record<ProductOrder, Ordering> = {
  NEWEST: defineOrdering(
    'NEWEST',
    { sort: products.createdAt, id: products.id, direction: 'desc' },
    cursorTimestamp,
    (row) => [row.createdAt.toISOString(), row.id],
  ),
  PRICE_ASC: defineOrdering(
    'PRICE_ASC',
    { sort: products.priceCents, id: products.id, direction: 'asc' },
    z.number().int(),
    (row) => [row.priceCents, row.id],
  ),
  PRICE_DESC: defineOrdering(
    'PRICE_DESC',
    { sort: products.priceCents, id: products.id, direction: 'desc' },
    z.number().int(),
    (row) => [row.priceCents, row.id],
  ),
  NAME_ASC: defineOrdering(
    'NAME_ASC',
    { sort: products.name, id: products.id, direction: 'asc' },
    z.string(),
    (row) => [row.name, row.id],
  ),
};

/** Checks the filter and turns it into one WHERE clause, or explains what is wrong. */
function filterCondition(filter: ProductFilter | null | undefined): SQL | undefined {
  if (!filter) return undefined;
  const { category, minPrice, maxPrice, search } = filter;
  for (const [name, value] of [
    ['minPrice', minPrice],
    ['maxPrice', maxPrice],
  ] as const) {
    if (value != null && value < 0) {
      throw badUserInput(`\`filter.${name}\` must be zero or more (a price in cents), got ${value}.`, `filter.${name}`);
    }
  }
  if (minPrice != null && maxPrice != null && minPrice > maxPrice) {
    throw badUserInput(
      `\`filter.minPrice\` (${minPrice}) is greater than \`filter.maxPrice\` (${maxPrice}).`,
      'filter.minPrice',
    );
  }
  if (search != null && search.length > maxSearchLength) {
    throw badUserInput(`\`filter.search\` must be at most ${maxSearchLength} characters.`, 'filter.search');
  }
  const term = search?.trim();
  // Escape LIKE wildcards so a search for "50%" means the text "50%".
  const pattern = term ? `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  return and(
    category != null ? eq(products.categoryId, categoryIdBySlug(category)) : undefined,
    minPrice != null ? gte(products.priceCents, minPrice) : undefined,
    maxPrice != null ? lte(products.priceCents, maxPrice) : undefined,
    pattern ? or(ilike(products.name, pattern), ilike(products.description, pattern)) : undefined,
  );
}

// A subquery keeps the category filter inside the one page statement.
function categoryIdBySlug(slug: string): SQL {
  return sql`(select ${categories.id} from ${categories} where ${categories.slug} = ${slug})`;
}

export interface ListProductsArgs extends PageArgs {
  filter?: ProductFilter | null;
  orderBy?: ProductOrder | null;
}

/** One page of the catalog: one statement for the page, one more only if `totalCount` is selected. */
export async function listProducts(db: Database<typeof tables>, args: ListProductsArgs) {
  const ordering: Ordering = orderings[args.orderBy ?? 'NEWEST'];
  const page = parsePage(args, ordering.cursor);
  const where = filterCondition(args.filter);
  const rows = await selectPage(db, { table: products, where, keyset: ordering.keyset, ...page });
  return toConnection(rows, page, ordering.cursorOf, async () => {
    const [result] = await db.select({ total: count() }).from(products).where(where);
    return result?.total ?? 0;
  });
}
