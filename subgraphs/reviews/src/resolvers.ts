import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import { childConnection } from '../../../platform/src/graphql/pagination.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { reviewCursor, type Loaders } from './loaders.ts';

/** Reviews of a product or by an author; `totalCount` comes from the same summary as `reviewCount`. */
const reviewsOf = (
  parentId: string,
  args: { first?: number | null; after?: string | null },
  pages: Loaders['reviewsByProduct'],
  summaries: Loaders['productRatings'],
) =>
  childConnection(parentId, args, {
    cursor: reviewCursor,
    cursorOf: reviewCursor.of,
    pages,
    count: async (id) => (await summaries.load(id))?.count ?? 0,
  });

export const resolvers: Resolvers = {
  Query: {
    review: (_, { id }, { loaders }) => loaders.reviewById.load(parseIdArgument(id, 'id')),
  },
  Review: {
    __resolveReference: (reference, { loaders }) => loaders.reviewById.load(reference.id),
    author: (review) => ({ id: review.authorId, username: review.authorUsername }),
    product: (review) => ({ id: review.productId }),
  },
  Product: {
    // Any product can have reviews; one without any simply has none.
    __resolveReference: (reference) => ({ id: reference.id }),
    reviews: (product, args, { loaders }) =>
      reviewsOf(product.id, args, loaders.reviewsByProduct, loaders.productRatings),
    averageRating: async (product, _, { loaders }) => {
      const average = (await loaders.productRatings.load(product.id))?.average;
      return average == null ? null : Math.round(Number(average) * 100) / 100;
    },
    reviewCount: async (product, _, { loaders }) => (await loaders.productRatings.load(product.id))?.count ?? 0,
  },
  User: {
    __resolveReference: (reference) => ({ id: reference.id }),
    reviews: (user, args, { loaders }) => reviewsOf(user.id, args, loaders.reviewsByAuthor, loaders.authorRatings),
  },
};
