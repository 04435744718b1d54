import { createHash } from 'node:crypto';
import type { SeedProgress, SeedSize } from '../platform/src/subgraph/definition.ts';

/**
 * The shop's seed data, as pure functions of an index. Each subgraph seeds
 * only its own slice into its own database, yet the slices agree: review 17
 * names the same product and author in the reviews database as product N
 * and user M are in theirs, and an order's unit prices are the catalog's.
 */

export interface WorldSize {
  users: number;
  products: number;
  reviews: number;
  orders: number;
}

export const worldSizes: Record<SeedSize, WorldSize> = {
  small: { users: 40, products: 120, reviews: 600, orders: 150 },
  scale: { users: 2_000, products: 10_000, reviews: 100_000, orders: 20_000 },
};

/** Seed data is dated relative to a fixed instant so that every run is identical. */
const epoch = Date.UTC(2025, 0, 1);
const day = 24 * 60 * 60 * 1000;

/** A stable UUID for the i-th entity of a kind (UUIDv8 layout over a SHA-256). */
export function seedId(kind: string, index: number): string {
  const bytes = createHash('sha256').update(`${kind}:${index}`).digest();
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A small deterministic PRNG (mulberry32) seeded per entity, so entities are independent. */
function random(kind: string, index: number) {
  let state = createHash('sha256').update(`rng:${kind}:${index}`).digest().readUInt32LE(0);
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

const firstNames = [
  'Ada',
  'Alan',
  'Grace',
  'Linus',
  'Margaret',
  'Ken',
  'Barbara',
  'Dennis',
  'Frances',
  'Edsger',
  'Radia',
  'Tim',
  'Hedy',
  'John',
  'Katherine',
  'Niklaus',
  'Shafi',
  'Donald',
  'Lynn',
  'Bjarne',
  'Sophie',
  'Guido',
  'Anita',
  'James',
];
const lastNames = [
  'Lovelace',
  'Turing',
  'Hopper',
  'Torvalds',
  'Hamilton',
  'Thompson',
  'Liskov',
  'Ritchie',
  'Allen',
  'Dijkstra',
  'Perlman',
  'Berners-Lee',
  'Lamarr',
  'McCarthy',
  'Johnson',
  'Wirth',
  'Goldwasser',
  'Knuth',
  'Conway',
  'Stroustrup',
  'Wilson',
  'van Rossum',
  'Borg',
  'Gosling',
];

export interface SeedUser {
  id: string;
  name: string;
  username: string;
  email: string;
  createdAt: Date;
}

export function seedUser(index: number): SeedUser {
  const rng = random('user', index);
  const first = rng.pick(firstNames);
  const last = rng.pick(lastNames);
  const username = `${first}.${last}`.toLowerCase().replace(/[^a-z.]/g, '') + index;
  return {
    id: seedId('user', index),
    name: `${first} ${last}`,
    username,
    email: `${username}@example.com`,
    createdAt: new Date(epoch - rng.int(30, 730) * day - rng.int(0, day - 1)),
  };
}

export interface SeedCategory {
  id: string;
  slug: string;
  name: string;
  nouns: readonly string[];
  /** Price range in cents. */
  price: readonly [number, number];
  /** Weight range in grams. */
  weight: readonly [number, number];
}

const categoryTable = [
  [
    'kitchen',
    'Kitchen',
    ['Kettle', 'Chef Knife', 'Skillet', 'Cutting Board', 'Coffee Grinder', 'Mixing Bowl'],
    [900, 24900],
    [200, 4000],
  ],
  [
    'outdoors',
    'Outdoors',
    ['Tent', 'Backpack', 'Headlamp', 'Sleeping Bag', 'Water Bottle', 'Camp Stove'],
    [1500, 59900],
    [100, 6000],
  ],
  [
    'office',
    'Office',
    ['Desk Lamp', 'Notebook', 'Monitor Stand', 'Fountain Pen', 'Desk Mat', 'Chair Cushion'],
    [500, 34900],
    [50, 8000],
  ],
  [
    'audio',
    'Audio',
    ['Headphones', 'Speaker', 'Turntable', 'Microphone', 'Earbuds', 'Amplifier'],
    [2900, 89900],
    [30, 9000],
  ],
  [
    'apparel',
    'Apparel',
    ['Rain Jacket', 'Wool Sweater', 'Sneakers', 'Beanie', 'Denim Jeans', 'Scarf'],
    [1200, 29900],
    [80, 1500],
  ],
  [
    'home',
    'Home',
    ['Throw Blanket', 'Candle', 'Planter', 'Wall Clock', 'Vase', 'Bookshelf'],
    [800, 49900],
    [150, 25000],
  ],
  [
    'fitness',
    'Fitness',
    ['Yoga Mat', 'Kettlebell', 'Jump Rope', 'Foam Roller', 'Resistance Band', 'Water Bottle'],
    [700, 19900],
    [100, 16000],
  ],
  [
    'games',
    'Games',
    ['Board Game', 'Puzzle', 'Card Deck', 'Chess Set', 'Dice Set', 'Game Controller'],
    [600, 12900],
    [50, 2500],
  ],
] as const;

export const seedCategories: readonly SeedCategory[] = categoryTable.map(
  ([slug, name, nouns, price, weight], index) => ({
    id: seedId('category', index),
    slug,
    name,
    nouns,
    price,
    weight,
  }),
);

const adjectives = [
  'Classic',
  'Compact',
  'Deluxe',
  'Everyday',
  'Featherweight',
  'Heritage',
  'Modern',
  'Nordic',
  'Pro',
  'Rugged',
  'Studio',
  'Trail',
  'Urban',
  'Vintage',
];
const materials = ['Oak', 'Steel', 'Canvas', 'Ceramic', 'Bamboo', 'Copper', 'Linen', 'Walnut', 'Graphite', 'Cotton'];

export interface SeedProduct {
  id: string;
  sku: string;
  name: string;
  description: string;
  priceCents: number;
  currencyCode: string;
  weightGrams: number;
  categoryId: string;
  createdAt: Date;
}

export function seedProduct(index: number): SeedProduct {
  const rng = random('product', index);
  const category = seedCategories[index % seedCategories.length]!;
  const noun = rng.pick(category.nouns);
  const name = `${rng.pick(adjectives)} ${rng.pick(materials)} ${noun}`;
  // Prices end in 99 or 49, as shop prices do.
  const dollars = Math.floor(rng.int(category.price[0], category.price[1]) / 100);
  return {
    id: seedId('product', index),
    sku: `${category.slug.slice(0, 3).toUpperCase()}-${String(index).padStart(6, '0')}`,
    name,
    description: `${name}: a ${category.name.toLowerCase()} favourite, built to last and easy to care for.`,
    priceCents: dollars * 100 + (rng.next() < 0.5 ? 99 : 49),
    currencyCode: 'USD',
    weightGrams: rng.int(category.weight[0], category.weight[1]),
    categoryId: category.id,
    createdAt: new Date(epoch - rng.int(1, 700) * day - rng.int(0, day - 1)),
  };
}

export interface SeedStockLevel {
  productId: string;
  quantity: number;
}

export function seedStockLevel(index: number): SeedStockLevel {
  const rng = random('stock', index);
  // About one product in eight is sold out.
  return { productId: seedId('product', index), quantity: rng.next() < 0.125 ? 0 : rng.int(1, 500) };
}

const reviewOpeners = [
  'Exactly as described.',
  'Better than I expected.',
  'Solid value for the price.',
  'Not quite what I hoped for.',
  'Arrived quickly and well packed.',
  'Would buy again.',
  'Does the job.',
  'Disappointed after a month.',
];
const reviewDetails = [
  'The build quality is excellent.',
  'The finish scratches easily.',
  'My family uses it every day.',
  'It is smaller than the photos suggest.',
  'Setup took two minutes.',
  'Customer service sorted out a problem fast.',
  'It looks great on the shelf.',
  'The instructions could be clearer.',
];

export interface SeedReview {
  id: string;
  productId: string;
  authorId: string;
  authorUsername: string;
  rating: number;
  body: string;
  createdAt: Date;
}

export function seedReview(index: number, size: WorldSize): SeedReview {
  const rng = random('review', index);
  // Skew reviews towards popular products: a product's popularity falls with its index squared.
  const productIndex = Math.floor(rng.next() ** 2 * size.products);
  const authorIndex = rng.int(0, size.users - 1);
  const rating = Math.min(5, Math.max(1, Math.round(1 + rng.next() * 4.6)));
  return {
    id: seedId('review', index),
    productId: seedId('product', productIndex),
    authorId: seedId('user', authorIndex),
    authorUsername: seedUser(authorIndex).username,
    rating,
    body: `${rng.pick(reviewOpeners)} ${rng.pick(reviewDetails)}`,
    createdAt: new Date(epoch - rng.int(0, 365) * day - rng.int(0, day - 1)),
  };
}

/**
 * The reviews the seed writes: `seedReview` for every index in order, except
 * that a review whose author already reviewed that product (at a lower
 * index) is left out, as a shopper reviews a product once. Deterministic,
 * so every subgraph and test that reads the seed world agrees on it.
 */
export function* seedReviews(size: WorldSize): Generator<SeedReview> {
  const reviewed = new Set<string>();
  for (let index = 0; index < size.reviews; index++) {
    const review = seedReview(index, size);
    const pair = `${review.authorId}/${review.productId}`;
    if (reviewed.has(pair)) continue;
    reviewed.add(pair);
    yield review;
  }
}

export const orderStatuses = ['PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED'] as const;

export interface SeedOrder {
  id: string;
  userId: string;
  status: (typeof orderStatuses)[number];
  currencyCode: string;
  createdAt: Date;
  items: { productId: string; quantity: number; unitPriceCents: number }[];
}

export function seedOrder(index: number, size: WorldSize): SeedOrder {
  const rng = random('order', index);
  const itemCount = rng.int(1, 4);
  const productIndexes = new Set<number>();
  while (productIndexes.size < itemCount) productIndexes.add(rng.int(0, size.products - 1));
  return {
    id: seedId('order', index),
    userId: seedId('user', rng.int(0, size.users - 1)),
    status: rng.pick(orderStatuses),
    currencyCode: 'USD',
    createdAt: new Date(epoch - rng.int(0, 365) * day - rng.int(0, day - 1)),
    items: [...productIndexes].map((productIndex) => ({
      productId: seedId('product', productIndex),
      quantity: rng.int(1, 3),
      unitPriceCents: seedProduct(productIndex).priceCents,
    })),
  };
}

/** How a seed's batches report the rows written: the table they fill, told to the subgraph's progress. */
export interface BatchOptions {
  /** Rows per `insert` call. Default: 1,000. */
  batchSize?: number;
  /** Named in progress reports, e.g. `reviews`. */
  table?: string;
  /** Told the rows written after each batch (`npm start` shows them). Default: no one. */
  progress?: SeedProgress | undefined;
}

/** Runs `insert` over `count` generated rows in batches, keeping memory flat at any scale. */
export async function insertInBatches<T>(
  count: number,
  generate: (index: number) => T,
  insert: (rows: T[]) => Promise<unknown>,
  { batchSize = 1_000, table = 'rows', progress }: BatchOptions = {},
): Promise<void> {
  for (let start = 0; start < count; start += batchSize) {
    const rows: T[] = [];
    for (let index = start; index < Math.min(count, start + batchSize); index++) rows.push(generate(index));
    await insert(rows);
    progress?.(table, start + rows.length, count);
  }
}

/**
 * Runs `insert` over the rows `rows` yields, in batches: for seed data that
 * is not one row per index. `atMost` is what progress reports count toward
 * until the last batch, which reports the rows there were.
 */
export async function insertEachInBatches<T>(
  rows: Iterable<T>,
  insert: (rows: T[]) => Promise<unknown>,
  { batchSize = 1_000, table = 'rows', progress, atMost }: BatchOptions & { atMost: number },
): Promise<void> {
  let batch: T[] = [];
  let done = 0;
  for (const row of rows) {
    batch.push(row);
    if (batch.length === batchSize) {
      await insert(batch);
      done += batch.length;
      progress?.(table, done, Math.max(atMost, done + 1));
      batch = [];
    }
  }
  if (batch.length > 0) await insert(batch);
  done += batch.length;
  progress?.(table, done, done);
}
