import { inStock, products, reviews, users, type Product, type Review, type User } from './data.ts';

export type BenchSubgraphName = 'accounts' | 'products' | 'inventory' | 'reviews';

export const benchSubgraphNames: readonly BenchSubgraphName[] = ['accounts', 'products', 'inventory', 'reviews'];

const userById = new Map(users.map((user) => [user.id, user]));
const productByUpc = new Map(products.map((product) => [product.upc, product]));
const reviewById = new Map(reviews.map((review) => [review.id, review]));

type ProductRepresentation = Pick<Product, 'upc'> & Partial<Pick<Product, 'price' | 'weight'>>;

/** Resolvers of the four benchmark subgraphs, in the shape `buildSubgraphSchema` takes. */
export const resolvers: Record<BenchSubgraphName, object> = {
  accounts: {
    Query: {
      me: () => users[0],
      user: (_: unknown, { id }: { id: string }) => userById.get(id) ?? null,
      users: () => users,
    },
    User: {
      __resolveReference: ({ id }: Pick<User, 'id'>) => userById.get(id) ?? null,
    },
  },
  products: {
    Query: {
      topProducts: (_: unknown, { first }: { first: number }) => products.slice(0, first),
    },
    Product: {
      __resolveReference: ({ upc }: ProductRepresentation) => productByUpc.get(upc) ?? null,
    },
  },
  inventory: {
    Product: {
      __resolveReference: (reference: ProductRepresentation) => ({ ...reference, inStock: inStock.has(reference.upc) }),
      // Free shipping above 1000; otherwise half the weight, as the public benchmark's inventory does.
      shippingEstimate: ({ price, weight }: ProductRepresentation) =>
        price === undefined || weight === undefined ? null : price > 1000 ? 0 : Math.round(weight * 0.5),
    },
  },
  reviews: {
    Review: {
      __resolveReference: ({ id }: Pick<Review, 'id'>) => reviewById.get(id) ?? null,
      product: (review: Review) => ({ __typename: 'Product', upc: review.productUpc }),
      // The username is provided here (@provides), so it must be resolvable without accounts.
      author: (review: Review) => ({
        __typename: 'User',
        id: review.authorId,
        username: userById.get(review.authorId)?.username,
      }),
    },
    User: {
      reviews: ({ id }: Pick<User, 'id'>) => reviews.filter((review) => review.authorId === id),
    },
    Product: {
      reviews: ({ upc }: Pick<Product, 'upc'>) => reviews.filter((review) => review.productUpc === upc),
    },
  },
};
