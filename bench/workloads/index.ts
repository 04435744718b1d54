/**
 * What the contenders are asked. The first three run on the public
 * benchmark's graph (bench/subgraphs); the shop workloads run on our own
 * graph with its real subgraphs on real Postgres (bench/shop).
 */
import { readFileSync } from 'node:fs';
import type { ContenderName } from '../contenders/index.ts';
import type { Operation } from '../lib/graphql.ts';

export const workloadNames = ['heavy', 'tiny', 'heavy-delay', 'shop-product', 'shop-catalog', 'shop-orders'] as const;

export type WorkloadName = (typeof workloadNames)[number];

export function isWorkloadName(name: string): name is WorkloadName {
  return (workloadNames as readonly string[]).includes(name);
}

/** Real ids picked from the seeded shop databases. */
export interface ShopIds {
  productId: string;
}

export interface Workload {
  name: WorkloadName;
  description: string;
  graph: 'bench' | 'shop';
  /** Added to every subgraph request (benchmark subgraphs only). */
  subgraphDelayMs: number;
  /** Who runs it by default; `--only` narrows this further. */
  contenders: readonly ContenderName[];
  /**
   * The answer is the caller's own data: requests come from the seeded
   * users, each with their signed identity (see bench/lib/callers.ts), and
   * a gateway must pass the caller on to get it.
   */
  signedIn: boolean;
  operation(ids: ShopIds | null): Operation;
}

const queryFile = (name: string) => readFileSync(new URL(`./${name}.graphql`, import.meta.url), 'utf8');
const heavyQuery = queryFile('heavy');

const everyone: readonly ContenderName[] = [
  'apollo',
  'hive',
  'hive-router-runtime',
  'ours',
  'ours-nocache',
  'ours-stock',
  'ours-apq',
  'ours-cache-hit',
];
/** On the delayed and shop workloads the persisted-query and default variants add nothing new. */
const gateways: readonly ContenderName[] = ['apollo', 'hive', 'hive-router-runtime', 'ours-nocache', 'ours-stock'];
const shop: readonly ContenderName[] = ['apollo', 'hive', 'ours-nocache', 'ours-cache-hit'];

function shopIds(ids: ShopIds | null): ShopIds {
  if (!ids) throw new Error('shop workloads need the shop graph');
  return ids;
}

export const workloads: Record<WorkloadName, Workload> = {
  heavy: {
    name: 'heavy',
    description: 'The public benchmark query: every subgraph, entity fetches six levels deep, an 88 KB answer',
    graph: 'bench',
    subgraphDelayMs: 0,
    contenders: everyone,
    signedIn: false,
    operation: () => ({ query: heavyQuery }),
  },
  tiny: {
    name: 'tiny',
    description: '`{ topProducts(first: 1) { upc name } }`: one subgraph fetch, per-request overhead',
    graph: 'bench',
    subgraphDelayMs: 0,
    contenders: everyone,
    signedIn: false,
    operation: () => ({ query: '{ topProducts(first: 1) { upc name } }' }),
  },
  'heavy-delay': {
    name: 'heavy-delay',
    description: 'The heavy query with 4 ms added to every subgraph request',
    graph: 'bench',
    subgraphDelayMs: 4,
    contenders: gateways,
    signedIn: false,
    operation: () => ({ query: heavyQuery }),
  },
  'shop-product': {
    name: 'shop-product',
    description: 'Shop graph: a product page (product, stock, rating, 10 reviews with authors)',
    graph: 'shop',
    subgraphDelayMs: 0,
    contenders: shop,
    signedIn: false,
    operation: (ids) => ({ query: queryFile('shop-product'), variables: { id: shopIds(ids).productId } }),
  },
  'shop-catalog': {
    name: 'shop-catalog',
    description: 'Shop graph: a catalog page, one category in a price band, 24 cards with stock and rating',
    graph: 'shop',
    subgraphDelayMs: 0,
    contenders: shop,
    signedIn: false,
    operation: () => ({
      query: queryFile('shop-catalog'),
      variables: { filter: { category: 'audio', minPrice: 5_000, maxPrice: 50_000 } },
    }),
  },
  'shop-orders': {
    name: 'shop-orders',
    description:
      "Shop graph: the signed-in user's order history (`viewer`), 10 orders with their lines and products; each request from a seeded user",
    graph: 'shop',
    subgraphDelayMs: 0,
    contenders: shop,
    signedIn: true,
    operation: () => ({ query: queryFile('shop-orders') }),
  },
};
