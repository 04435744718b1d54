import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isMergeable, mergeQueries } from '../src/subgraph-fetch/merge.ts';

/** Merging subgraph queries must be invisible to each part: same data, same errors, no collisions. */

const part = (query: string, variables: Record<string, unknown> = {}) => ({ query, document: parse(query), variables });

describe('mergeQueries', () => {
  const entities = part(
    'query A($representations: [_Any!]!) { _entities(representations: $representations) { ...P } } fragment P on Product { id name }',
    { representations: [{ __typename: 'Product', id: '1' }] },
  );
  const sameShape = part(
    'query B($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { price } } }',
    { representations: [{ __typename: 'Product', id: '2' }] },
  );

  it('prefixes each part’s fields, variables and fragments so they cannot collide', () => {
    const merged = mergeQueries([entities, sameShape]);
    expect(merged.variables).toEqual({
      p0_representations: entities.variables.representations,
      p1_representations: sameShape.variables.representations,
    });
    const document = parse(merged.query);
    expect(merged.query).toContain('p0__entities: _entities(representations: $p0_representations)');
    expect(merged.query).toContain('p1__entities: _entities(representations: $p1_representations)');
    expect(merged.query).toContain('fragment p0_P on Product');
    expect(merged.query).toContain('...p0_P');
    expect(document.definitions).toHaveLength(2);
  });

  it('gives each part its own data and the errors on its paths; errors without a path go to every part', () => {
    const merged = mergeQueries([entities, sameShape]);
    const [first, second] = merged.split({
      data: { p0__entities: [{ id: '1', name: 'One' }], p1__entities: [null] },
      errors: [{ message: 'price unknown', path: ['p1__entities', 0, 'price'] }, { message: 'subgraph warning' }],
    });
    expect(first).toEqual({
      data: { _entities: [{ id: '1', name: 'One' }] },
      errors: [{ message: 'subgraph warning' }],
    });
    expect(second).toEqual({
      data: { _entities: [null] },
      errors: [{ message: 'price unknown', path: ['_entities', 0, 'price'] }, { message: 'subgraph warning' }],
    });
  });

  it('keeps a null result null for every part', () => {
    const merged = mergeQueries([entities, sameShape]);
    const parts = merged.split({ data: null, errors: [{ message: 'boom' }] });
    expect(parts.map((result) => result.data)).toEqual([null, null]);
  });
});

describe('isMergeable', () => {
  it.each([
    { query: '{ a b }', mergeable: true },
    { query: 'mutation { a }', mergeable: false },
    { query: 'query A { a } query B { b }', mergeable: false },
    { query: '{ ... on Query { a } }', mergeable: false },
  ])('$query: $mergeable', ({ query, mergeable }) => {
    expect(isMergeable(parse(query))).toBe(mergeable);
  });
});
