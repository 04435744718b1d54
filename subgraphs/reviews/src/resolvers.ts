import type DataLoader from 'dataloader';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import type { PagedGroupKey } from '../../../platform/src/graphql/loaders.ts';
import { parsePage, toConnection, type PageArgs } from '../../../platform/src/graphql/pagination.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import type { ReviewRow } from './db/schema.ts';
import { cursorOf, reviewCursor, type ReviewPage } from './loaders.ts';

/** A page of a parent's reviews, with `totalCount` answered by the parent's summary loader. */
async function reviewConnection(
  parentId: string,
  args: PageArgs,
  pages: DataLoader<PagedGroupKey<ReviewPage>, ReviewRow[], string>,
  summaries: DataLoader<string, { count: number } | null>,
) {
  const page = parsePage(args, reviewCursor);
  const rows = await pages.load({ parentId, page });
  return toConnection(rows, page, cursorOf, async () => (await summaries.load(parentId))?.count ?? 0);
}

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
      reviewConnection(product.id, args, loaders.reviewsByProduct, loaders.productRatings),
    averageRating: async (product, _, { loaders }) => {
      const average = (await loaders.productRatings.load(product.id))?.average;
      return average == null ? null : Math.round(Number(average) * 100) / 100;
    },
    reviewCount: async (product, _, { loaders }) => (await loaders.productRatings.load(product.id))?.count ?? 0,
  },
  User: {
    __resolveReference: (reference) => ({ id: reference.id }),
    reviews: (user, args, { loaders }) =>
      reviewConnection(user.id, args, loaders.reviewsByAuthor, loaders.authorRatings),
  },
};
