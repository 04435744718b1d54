import { GraphQLError } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import {
  badUserInput,
  clientError,
  createErrorFormatter,
  ErrorCode,
  errorCodes,
  errorResponse,
  isDatabaseUnavailable,
  statusOf,
} from '../src/errors.ts';

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

describe('the error codes', () => {
  it('state for every code when it is used, and either a status of its own or a field use', () => {
    expect(Object.keys(errorCodes).sort()).toEqual(Object.values(ErrorCode).sort());
    for (const [code, use] of Object.entries(errorCodes)) {
      expect(use.when.length, code).toBeGreaterThan(10);
      expect(use.status !== null || use.field, code).toBe(true);
    }
  });

  it('answer a refused request with the status of its code, the code first in its one error', async () => {
    const response = errorResponse(ErrorCode.RateLimited, 'Too many requests.', {
      extensions: { retryAfterSeconds: 3 },
      headers: [['retry-after', '3']],
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3');
    expect(response.body.kind === 'complete' && JSON.parse(response.body.string)).toEqual({
      errors: [{ message: 'Too many requests.', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 3 } }],
    });
    expect(statusOf(ErrorCode.PayloadTooLarge)).toBe(413);
  });

  it('refuse to give a status to a code that only ever nulls a field', () => {
    expect(() => statusOf(ErrorCode.Conflict)).toThrow(/CONFLICT never refuses a whole request/);
    expect(() => errorResponse(ErrorCode.SubgraphTimeout, 'late')).toThrow(/SUBGRAPH_TIMEOUT/);
  });

  it('build coded GraphQL errors one way, with what extensions they carry after the code', () => {
    const error = clientError(ErrorCode.NotFound, 'No such order.', { id: '7' });
    expect(error.extensions).toEqual({ code: 'NOT_FOUND', id: '7' });
    expect(badUserInput('Bad `first`.', 'first').extensions).toEqual({ code: 'BAD_USER_INPUT', argumentName: 'first' });
  });
});
