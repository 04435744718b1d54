import DataLoader from 'dataloader';

/**
 * DataLoader contract helpers: one fetch per batch, results in key order and
 * of the same length as the keys. Loaders are built per request (see each
 * subgraph's `createLoaders`), so nothing is cached across callers.
 */

export interface RowLoaderOptions<TKey, TRow> {
  /** Fetches the rows for a batch of keys in one statement. */
  fetch: (keys: TKey[]) => Promise<TRow[]>;
  /** The unique key a row answers. */
  keyOf: (row: TRow) => TKey;
  /** Keys that can never match, answered `null` without a query (e.g. a malformed UUID). */
  isValidKey?: (key: TKey) => boolean;
  /** Maps a key to the form the database returns (e.g. a lower-case UUID). */
  normalizeKey?: (key: TKey) => TKey;
}

/** Loads at most one row per key; a key without a row resolves to `null`. */
export function createRowLoader<TKey extends string | number, TRow>({
  fetch,
  keyOf,
  isValidKey = () => true,
  normalizeKey = (key) => key,
}: RowLoaderOptions<TKey, TRow>): DataLoader<TKey, TRow | null> {
  return new DataLoader(async (keys) => {
    const valid = [...new Set(keys.filter(isValidKey).map(normalizeKey))];
    const rows = valid.length > 0 ? await fetch(valid) : [];
    const byKey = new Map(rows.map((row) => [keyOf(row), row]));
    return keys.map((key) => (isValidKey(key) ? (byKey.get(normalizeKey(key)) ?? null) : null));
  });
}

export interface GroupLoaderOptions<TKey, TRow> {
  fetch: (keys: TKey[]) => Promise<TRow[]>;
  /** The non-unique key a row belongs to. */
  groupOf: (row: TRow) => TKey;
  isValidKey?: (key: TKey) => boolean;
  normalizeKey?: (key: TKey) => TKey;
}

/** Loads every row of each key, in the order `fetch` returned them; none is `[]`. */
export function createGroupLoader<TKey extends string | number, TRow>({
  fetch,
  groupOf,
  isValidKey = () => true,
  normalizeKey = (key) => key,
}: GroupLoaderOptions<TKey, TRow>): DataLoader<TKey, TRow[]> {
  return new DataLoader(async (keys) => {
    const valid = [...new Set(keys.filter(isValidKey).map(normalizeKey))];
    const rows = valid.length > 0 ? await fetch(valid) : [];
    return groupBy(
      keys.map((key) => (isValidKey(key) ? normalizeKey(key) : key)),
      rows,
      groupOf,
    );
  });
}

export interface PagedGroupKey<TPage> {
  parentId: string;
  page: TPage;
}

export interface PagedGroupLoaderOptions<TPage, TRow> {
  /** Fetches one page of children for every parent in one statement. */
  fetch: (parentIds: string[], page: TPage) => Promise<TRow[]>;
  parentOf: (row: TRow) => string;
  isValidKey?: (parentId: string) => boolean;
  normalizeKey?: (parentId: string) => string;
}

/**
 * Loads a page of children for many parents: `Product.reviews(first: 5)`
 * across a list of products becomes one statement, however long the list.
 * Parents asking for different pages are batched per distinct page.
 */
export function createPagedGroupLoader<TPage, TRow>({
  fetch,
  parentOf,
  isValidKey = () => true,
  normalizeKey = (parentId) => parentId,
}: PagedGroupLoaderOptions<TPage, TRow>): DataLoader<PagedGroupKey<TPage>, TRow[], string> {
  const cacheKey = ({ parentId, page }: PagedGroupKey<TPage>) => `${JSON.stringify(page)}|${normalizeKey(parentId)}`;
  return new DataLoader(
    async (keys) => {
      const byPage = new Map<string, { page: TPage; parentIds: Set<string> }>();
      for (const { parentId: rawParentId, page } of keys) {
        if (!isValidKey(rawParentId)) continue;
        const parentId = normalizeKey(rawParentId);
        const pageKey = JSON.stringify(page);
        const group = byPage.get(pageKey) ?? { page, parentIds: new Set<string>() };
        group.parentIds.add(parentId);
        byPage.set(pageKey, group);
      }
      const results = new Map<string, TRow[]>();
      await Promise.all(
        [...byPage].map(async ([pageKey, { page, parentIds }]) => {
          const rows = await fetch([...parentIds], page);
          const grouped = groupBy([...parentIds], rows, parentOf);
          [...parentIds].forEach((parentId, index) => results.set(`${pageKey}|${parentId}`, grouped[index] ?? []));
        }),
      );
      return keys.map((key) => results.get(cacheKey(key)) ?? []);
    },
    { cacheKeyFn: cacheKey },
  );
}

function groupBy<TKey, TRow>(keys: readonly TKey[], rows: readonly TRow[], groupOf: (row: TRow) => TKey): TRow[][] {
  const groups = new Map<TKey, TRow[]>();
  for (const row of rows) {
    const key = groupOf(row);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return keys.map((key) => groups.get(key) ?? []);
}
