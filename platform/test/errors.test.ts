import { GraphQLError } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import { badUserInput, createErrorFormatter, isDatabaseUnavailable } from '../src/errors.ts';

describe('database availability', () => {
  it.each([
    { code: 'ECONNREFUSED' },
    { code: 'CONNECT_TIMEOUT' },
    { code: '57P01' },
    { code: '08006' },
    { code: '53300' },
    { cause: { cause: { code: 'ECONNRESET' } } },
  ])('treats %j as unavailable', (error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([{ code: '42P01' }, { code: '23505' }, new Error('bug'), null])(
    'treats %j as a bug, not an outage',
    (error) => {
      expect(isDatabaseUnavailable(error)).toBe(false);
    },
  );
});

describe('error formatting', () => {
  const formatted = (error: GraphQLError) => ({ message: error.message, extensions: { ...error.extensions } });

  it('passes coded errors through', () => {
    const format = createErrorFormatter({ database: 'products' });
    const error = badUserInput('`first` must be between 0 and 100, got 500.', 'first');
    expect(format(formatted(error), error)).toEqual(formatted(error));
  });

  it('masks uncoded errors and hands the original to the log', () => {
    const onInternalError = vi.fn();
    const format = createErrorFormatter({ database: 'products', onInternalError });
    const original = new Error('relation "secret_table" does not exist');
    const error = new GraphQLError(original.message, { originalError: original });
    expect(
      format({ message: error.message, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } }, error),
    ).toEqual({
      message: 'Internal server error',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(onInternalError).toHaveBeenCalledWith(original);
  });

  it('keeps internal messages when masking is off, for development', () => {
    const format = createErrorFormatter({ database: 'products', maskInternalErrors: false });
    const error = new GraphQLError('boom', { originalError: new Error('boom') });
    expect(format({ message: 'boom' }, error).message).toBe('boom');
  });
});
