import { describe, expect, it } from 'vitest';
import { InvalidNameError, subgraphNames, type ExistingGraph } from './names.ts';

const shop: ExistingGraph = {
  subgraphs: ['accounts', 'products'],
  types: new Map([
    ['User', ['accounts']],
    ['Product', ['products']],
    ['Category', ['products']],
  ]),
  queryFields: new Map([
    ['user', ['accounts']],
    ['search', ['products']],
  ]),
};

describe('subgraph names', () => {
  it.each([
    { name: 'wishlists', type: 'Wishlist', one: 'wishlist', many: 'wishlists' },
    { name: 'stories', type: 'Story', one: 'story', many: 'stories' },
    { name: 'boxes', type: 'Box', one: 'box', many: 'boxes' },
    { name: 'purchases', type: 'Purchase', one: 'purchase', many: 'purchases' },
    { name: 'inventory', type: 'Inventory', one: 'inventory', many: 'inventories' },
    { name: 'address', type: 'Address', one: 'address', many: 'addresses' },
    { name: 'v2items', type: 'V2item', one: 'v2item', many: 'v2items' },
  ])('$name owns $type, listed by $many', ({ name, ...derived }) => {
    expect(subgraphNames(name, shop)).toEqual({ name, envPrefix: name.toUpperCase(), ...derived });
  });

  it.each([
    { name: '', reason: /Name the new subgraph/ },
    { name: 'Wishlists', reason: /not a valid subgraph name/ },
    { name: 'wish_lists', reason: /not a valid subgraph name/ },
    { name: 'gift-cards', reason: /dashes are not supported/ },
    { name: 'x'.repeat(33), reason: /too long/ },
    { name: 'accounts', reason: /already exists/ },
    { name: 'redis', reason: /reserved/ },
    { name: 'extends', reason: /reserved/ },
    { name: 'categories', reason: /the type Category, already in products/ },
    { name: 'strings', reason: /the type String, which every GraphQL schema here has/ },
    { name: 'searches', reason: /Query\.search, already in products/ },
  ])('refuses "$name"', ({ name, reason }) => {
    expect(() => subgraphNames(name, shop)).toThrow(InvalidNameError);
    expect(() => subgraphNames(name, shop)).toThrow(reason);
  });
});
