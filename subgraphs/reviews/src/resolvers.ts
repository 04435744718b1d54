import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import { childConnection } from '../../../platform/src/graphql/pagination.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { addReview } from './add-review.ts';
import { averageRating } from './events.ts';
import { reviewCursor, type Loaders } from './loaders.ts';

/**
 * Reviews of a product or by an author. `totalCount` is a live count, not
 * the projection's: it must match the edges listed beside it, which are
 * read live, whereas the projection catches up a moment after a review.
 */
const reviewsOf = (
  parentId: string,
  args: { first?: number | null; after?: string | null },
  pages: Loaders['reviewsByProduct'],
  counts: Loaders['reviewCountByProduct'],
) =>
  childConnection(parentId, args, {
    cursor: reviewCursor,
    cursorOf: reviewCursor.of,
    pages,
    count: async (id) => (await counts.load(id))?.count ?? 0,
  });

export const resolvers: Resolvers = {
  Mutation: {
    // @authenticated: the viewer is there by the time this runs.
    addReview: async (_, { input }, { viewer, db }) => ({ review: await addReview(db, viewer!, input) }),
  },
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
      reviewsOf(product.id, args, loaders.reviewsByProduct, loaders.reviewCountByProduct),
    // From the rating projection: one row, however many reviews.
    averageRating: async (product, _, { loaders }) => {
      const rating = await loaders.productRating.load(product.id);
      return rating ? averageRating(rating) : null;
    },
    reviewCount: async (product, _, { loaders }) => (await loaders.productRating.load(product.id))?.reviewCount ?? 0,
  },
  User: {
    __resolveReference: (reference) => ({ id: reference.id }),
    reviews: (user, args, { loaders }) =>
      reviewsOf(user.id, args, loaders.reviewsByAuthor, loaders.reviewCountByAuthor),
  },
};
