import { describe, expect, it, vi } from 'vitest';
import { uuidKeys } from '../src/graphql/ids.ts';
import { createGroupLoader, createPagedGroupLoader, createRowLoader } from '../src/graphql/loaders.ts';

const a = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const b = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const missing = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';

describe('row loader', () => {
  it('answers in key order, null for a missing row, in one fetch per batch', async () => {
    const fetch = vi.fn(async (ids: string[]) =>
      ids
        .filter((id) => id !== missing)
        .reverse()
        .map((id) => ({ id })),
    );
    const loader = createRowLoader({ fetch, keyOf: (row) => row.id, ...uuidKeys });
    expect(await loader.loadMany([b, missing, a, b])).toEqual([{ id: b }, null, { id: a }, { id: b }]);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch.mock.calls[0]![0].sort()).toEqual([a, b, missing].sort());
  });

  it('answers malformed keys null without sending them to the database, and ignores case', async () => {
    const fetch = vi.fn(async (ids: string[]) => ids.map((id) => ({ id })));
    const loader = createRowLoader({ fetch, keyOf: (row) => row.id, ...uuidKeys });
    expect(await loader.loadMany(['1 or 1=1', a.toUpperCase()])).toEqual([null, { id: a }]);
    expect(fetch).toHaveBeenCalledWith([a]);
  });

  it('skips the fetch when no key can match', async () => {
    const fetch = vi.fn(async () => []);
    const loader = createRowLoader({ fetch, keyOf: (row: { id: string }) => row.id, ...uuidKeys });
    expect(await loader.load('nope')).toBeNull();
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe('group loader', () => {
  it('answers every key with its rows, and [] for none', async () => {
    const loader = createGroupLoader({
      fetch: async () => [
        { parent: a, n: 1 },
        { parent: a, n: 2 },
        { parent: b, n: 3 },
      ],
      groupOf: (row) => row.parent,
      ...uuidKeys,
    });
    expect(await loader.loadMany([b, missing, a])).toEqual([
      [{ parent: b, n: 3 }],
      [],
      [
        { parent: a, n: 1 },
        { parent: a, n: 2 },
      ],
    ]);
  });
});

describe('paged group loader', () => {
  it('fetches once per distinct page, for all parents asking for it', async () => {
    const fetch = vi.fn(async (parentIds: string[], page: { limit: number }) =>
      parentIds.flatMap((parent) => Array.from({ length: page.limit }, (_, n) => ({ parent, n }))),
    );
    const loader = createPagedGroupLoader({ fetch, parentOf: (row) => row.parent, ...uuidKeys });
    const [first, second, third] = await Promise.all([
      loader.load({ parentId: a, page: { limit: 2 } }),
      loader.load({ parentId: b, page: { limit: 2 } }),
      loader.load({ parentId: a, page: { limit: 1 } }),
    ]);
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(first).toEqual([
      { parent: a, n: 0 },
      { parent: a, n: 1 },
    ]);
    expect(second).toHaveLength(2);
    expect(third).toEqual([{ parent: a, n: 0 }]);
  });
});
