import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { cursorCodec, pageSizes, parsePage, toConnection } from '../src/graphql/pagination.ts';

const codec = cursorCodec('things', z.tuple([z.number().int(), z.uuid()]));
const id = '3f1c9a52-7d4e-8b21-9a6f-0c5e7d8b9a10';

function badInput(run: () => unknown): GraphQLError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphQLError);
    expect((error as GraphQLError).extensions.code).toBe('BAD_USER_INPUT');
    return error as GraphQLError;
  }
  throw new Error('expected BAD_USER_INPUT');
}

describe('cursors', () => {
  it('round-trip a position', () => {
    expect(codec.decode(codec.encode([42, id]))).toEqual([42, id]);
  });

  it('reject a cursor of another list', () => {
    const other = cursorCodec('others', z.tuple([z.number().int(), z.uuid()]));
    expect(badInput(() => codec.decode(other.encode([42, id]))).extensions.argumentName).toBe('after');
  });

  it.each([
    '',
    'not base64!',
    Buffer.from('{"a":1}').toString('base64url'),
    codec.encode([1.5, id]),
    codec.encode([1, 'x'] as never),
  ])('reject the malformed cursor %j', (cursor) => {
    badInput(() => codec.decode(cursor));
  });
});

describe('page arguments', () => {
  it('default to the standard page size', () => {
    expect(parsePage({}, codec)).toEqual({ limit: pageSizes.default, after: null });
  });

  it.each([-1, pageSizes.max + 1, 2.5])('reject first: %d', (first) => {
    expect(badInput(() => parsePage({ first }, codec)).message).toMatch(/`first` must be between 0 and 100/);
  });

  it('turn limit + 1 rows into a page that knows there is more', () => {
    const page = parsePage({ first: 2 }, codec);
    const connection = toConnection(
      [{ n: 1 }, { n: 2 }, { n: 3 }],
      page,
      (row) => `c${row.n}`,
      async () => 3,
    );
    expect(connection.edges).toEqual([
      { cursor: 'c1', node: { n: 1 } },
      { cursor: 'c2', node: { n: 2 } },
    ]);
    expect(connection.pageInfo).toEqual({
      hasNextPage: true,
      hasPreviousPage: false,
      startCursor: 'c1',
      endCursor: 'c2',
    });
  });
});
