/**
 * Correctness before speed: each contender's answer must equal the
 * baseline's, compared as canonical JSON (sorted keys) with `extensions`
 * left out, since gateways put different things there (cache hints, traces).
 */

export function canonicalResponse(response: unknown): string {
  if (response && typeof response === 'object' && !Array.isArray(response)) {
    const { extensions: _ignored, ...rest } = response as Record<string, unknown>;
    return canonicalJson(rest);
  }
  return canonicalJson(response);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** Up to `limit` lines `path: expected …, got …` naming where two canonical responses differ. */
export function describeDifferences(expected: string, actual: string, limit = 5): string[] {
  const lines: string[] = [];
  walk(JSON.parse(expected), JSON.parse(actual), '$', lines, limit);
  return lines;
}

function walk(expected: unknown, actual: unknown, path: string, lines: string[], limit: number): void {
  if (lines.length >= limit) return;
  const bothObjects =
    expected &&
    actual &&
    typeof expected === 'object' &&
    typeof actual === 'object' &&
    Array.isArray(expected) === Array.isArray(actual);
  if (!bothObjects) {
    if (JSON.stringify(expected) !== JSON.stringify(actual))
      lines.push(`${path}: expected ${preview(expected)}, got ${preview(actual)}`);
    return;
  }
  if (Array.isArray(expected) && Array.isArray(actual) && expected.length !== actual.length) {
    lines.push(`${path}: expected ${expected.length} items, got ${actual.length}`);
  }
  const keys = new Set([...Object.keys(expected as object), ...Object.keys(actual as object)]);
  for (const key of keys) {
    walk(
      (expected as Record<string, unknown>)[key],
      (actual as Record<string, unknown>)[key],
      Array.isArray(expected) ? `${path}[${key}]` : `${path}.${key}`,
      lines,
      limit,
    );
  }
}

function preview(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
