/**
 * The fixed data of the public gateway benchmark: 6 users, 9 products and
 * 11 reviews. Sizes are fixed so that every run, and every gateway, answers
 * the heavy query with the same bytes.
 */

export interface User {
  id: string;
  name: string;
  username: string;
  birthday: number;
}

export interface Product {
  upc: string;
  name: string;
  price: number;
  weight: number;
}

export interface Review {
  id: string;
  body: string;
  productUpc: string;
  authorId: string;
}

const names = ['Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth'];

export const users: readonly User[] = names.map((name, index) => ({
  id: String(index + 1),
  name,
  username: `@${name.split(' ')[1]!.toLowerCase()}`,
  birthday: 1_000_000_000 + index * 86_400_000,
}));

const productNames = ['Table', 'Couch', 'Chair', 'Lamp', 'Desk', 'Shelf', 'Rug', 'Mirror', 'Stool'];

export const products: readonly Product[] = productNames.map((name, index) => ({
  upc: String(index + 1),
  name,
  price: 99 + index * 137,
  weight: 10 + index * 15,
}));

/**
 * Review bodies are padded to this length. The heavy query repeats them 75
 * times, so this one number sets its response size: at 1,046 characters the
 * response is 88 KB, as in the public benchmark. (The object count, which
 * is what costs a gateway CPU, is set by how reviews spread over users and
 * products below; it gives stock Apollo Gateway the reference's 16
 * subgraph requests and ~20 ms of CPU per operation.)
 */
const reviewBodyLength = 1_046;

const filler =
  'Sturdy, well finished and exactly as pictured. Assembly took ten minutes and the instructions were clear. ' +
  'It has held up to daily use for months without a scratch, and I would happily buy it again. ';

function reviewBody(index: number): string {
  const text = `Review ${index}: ${filler.repeat(Math.ceil(reviewBodyLength / filler.length))}`;
  return text.slice(0, reviewBodyLength);
}

/** Every user wrote at least one review and most products have one or more. */
export const reviews: readonly Review[] = Array.from({ length: 11 }, (_, index) => ({
  id: String(index + 1),
  body: reviewBody(index + 1),
  productUpc: products[(index * 4) % products.length]!.upc,
  authorId: users[index % users.length]!.id,
}));

/** Products in stock, as the inventory subgraph knows them. */
export const inStock = new Set(products.filter((_, index) => index % 3 !== 2).map((product) => product.upc));
