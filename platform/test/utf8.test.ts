import { describe, expect, it } from 'vitest';
import { utf8Bytes } from '../src/http/utf8.ts';

describe('utf8Bytes', () => {
  it.each([
    ['a short string', 'héllo ’ 🛒'],
    ['a long ASCII string', 'x'.repeat(100_000)],
    ['a long string with two-byte and astral characters', `${'ab’'.repeat(20_000)}🛒é`],
    ['an empty string', ''],
  ])('encodes %s exactly as Buffer.from does', (_, text) => {
    const bytes = utf8Bytes(text);
    expect(bytes.equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(bytes.toString('utf8')).toBe(text);
  });
});
