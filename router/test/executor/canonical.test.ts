import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical.ts';

describe('canonicalJson', () => {
  it('tells responses apart by the order of their data keys', () => {
    expect(canonicalJson({ data: { a: 1, b: 2 } })).not.toBe(canonicalJson({ data: { b: 2, a: 1 } }));
  });

  it('ignores the order of errors and all but their message, path and code', () => {
    const first = { message: 'first', path: ['a', 0], extensions: { code: 'X', serviceName: 'one' } };
    const second = { message: 'second', path: ['a', 1], locations: [{ line: 1, column: 2 }] };
    expect(canonicalJson({ data: null, errors: [first, second] })).toBe(
      canonicalJson({
        data: null,
        errors: [
          { message: 'second', path: ['a', 1], code: null },
          { message: 'first', path: ['a', 0], code: 'X' },
        ],
      }),
    );
  });

  it('tells an absent data entry from a null one, and no errors from an empty list', () => {
    expect(canonicalJson({ errors: [{ message: 'm' }] })).not.toBe(
      canonicalJson({ data: null, errors: [{ message: 'm' }] }),
    );
    expect(canonicalJson({ data: {}, errors: [] })).toBe(canonicalJson({ data: {} }));
  });

  it('tells errors apart by path and code', () => {
    expect(canonicalJson({ errors: [{ message: 'm', path: ['a'] }] })).not.toBe(
      canonicalJson({ errors: [{ message: 'm', path: ['b'] }] }),
    );
    expect(canonicalJson({ errors: [{ message: 'm', extensions: { code: 'A' } }] })).not.toBe(
      canonicalJson({ errors: [{ message: 'm', extensions: { code: 'B' } }] }),
    );
  });
});
