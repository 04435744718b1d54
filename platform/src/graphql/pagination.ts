import type DataLoader from 'dataloader';
import { z } from 'zod';
import { findUnstorable } from '../subgraph/storable-input.ts';
import { badUserInput } from '../errors.ts';
import type { PagedGroupKey } from './loaders.ts';

/** Page size when a client omits `first`, and the most a client may ask for. */
export const pageSizes = { default: 20, max: 100 } as const;

/** The forward-pagination arguments of every connection field. */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

/** Validated page arguments: how many rows to return and where to start. */
export interface Page<TCursor> {
  limit: number;
  after: TCursor | null;
}

/**
 * Encodes and decodes the position in one list. Cursors are opaque to
 * clients, but they are checked here: a cursor of another kind of list or
 * another ordering, or a hand-edited one, is a `BAD_USER_INPUT` instead of a
 * database error. (A cursor is a position, not a parent: one product's
 * review cursor means "older than this review" in another product's list.)
 */
export interface CursorCodec<TInput, TOutput> {
  encode(position: TInput): string;
  decode(cursor: string): TOutput;
}

export function cursorCodec<TSchema extends z.ZodType>(
  /** Distinguishes lists, so a cursor for one is rejected by another. */
  list: string,
  position: TSchema,
): CursorCodec<z.input<TSchema>, z.output<TSchema>> {
  const envelope = z.tuple([z.literal(list), position]);
  return {
    encode: (value) => Buffer.from(JSON.stringify([list, value])).toString('base64url'),
    decode(cursor) {
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        decoded = undefined;
      }
      const parsed = envelope.safeParse(decoded);
      // A real cursor holds stored values only; text Postgres cannot store marks a hand-made one.
      if (!parsed.success || findUnstorable({ after: decoded }) !== null) {
        throw badUserInput(
          '`after` is not a cursor of this list. Pass the `pageInfo.endCursor` of the previous page unchanged.',
          'after',
        );
      }
      return parsed.data[1] as z.output<TSchema>;
    },
  };
}

export function parsePage<TOutput>(args: PageArgs, codec: CursorCodec<unknown, TOutput>): Page<TOutput> {
  const limit = args.first ?? pageSizes.default;
  if (!Number.isInteger(limit) || limit < 0 || limit > pageSizes.max) {
    throw badUserInput(`\`first\` must be between 0 and ${pageSizes.max}, got ${limit}.`, 'first');
  }
  return { limit, after: args.after == null ? null : codec.decode(args.after) };
}

export interface Edge<TNode> {
  cursor: string;
  node: TNode;
}

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

/**
 * A Relay connection. `totalCount` is a function so that graphql-js's default
 * resolver only runs the count query when a client selects the field.
 */
export interface Connection<TNode> {
  edges: Edge<TNode>[];
  pageInfo: PageInfo;
  totalCount: () => Promise<number>;
}

/**
 * Builds a connection from rows fetched with `limit + 1`: the extra row only
 * proves there is a next page and is not returned.
 */
export function toConnection<TRow>(
  rows: readonly TRow[],
  page: Page<unknown>,
  cursorOf: (row: TRow) => string,
  totalCount: () => Promise<number>,
): Connection<TRow> {
  const nodes = rows.slice(0, page.limit);
  const edges = nodes.map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > page.limit,
      // Forward-only pagination: anything after a cursor has a page before it.
      hasPreviousPage: page.after !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}

/** A timestamp in a cursor: ISO-8601 on the wire, the Date its column compares with once decoded. */
export const cursorTimestamp = z.iso.datetime().transform((iso) => new Date(iso));

/** The cursor of a newest-first list ordered by (createdAt, id), the most common keyset here. */
export function newestFirstCursor(list: string) {
  const codec = cursorCodec(list, z.tuple([cursorTimestamp, z.uuid()]));
  return {
    ...codec,
    of: (row: { createdAt: Date; id: string }) => codec.encode([row.createdAt.toISOString(), row.id]),
  };
}

export interface ChildConnectionSource<TRow, TCursor> {
  cursor: CursorCodec<never, TCursor>;
  cursorOf: (row: TRow) => string;
  /** Loads the page for this parent, batched with its siblings' pages. */
  pages: DataLoader<PagedGroupKey<Page<TCursor>>, TRow[], string>;
  /** The parent's child count, batched likewise. */
  count: (parentId: string) => Promise<number>;
}

/** A connection field on an entity, such as `Product.reviews`, served by batched loaders. */
export async function childConnection<TRow, TCursor>(
  parentId: string,
  args: PageArgs,
  { cursor, cursorOf, pages, count }: ChildConnectionSource<TRow, TCursor>,
): Promise<Connection<TRow>> {
  const page = parsePage(args, cursor);
  const rows = await pages.load({ parentId, page });
  return toConnection(rows, page, cursorOf, () => count(parentId));
}
