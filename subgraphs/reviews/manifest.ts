import type { SubgraphManifest } from '../registry.ts';

export const manifest: SubgraphManifest = {
  codegenMappers: {
    Review: '../db/schema.ts#ReviewRow',
    Product: '../model.ts#ReviewedProduct',
    User: '../model.ts#ReviewAuthor',
    ReviewConnection: '../../../../platform/src/graphql/pagination.ts#Connection<ReviewRow>',
  },
  readme: {
    owns: "`Review` (`@key id`), with the author's username kept alongside (`@provides`); `addReview`; the rating projection",
    addsToOtherTypes: '`Product.reviews`, `averageRating`, `reviewCount`; `User.reviews`',
  },
};
