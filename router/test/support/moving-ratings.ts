/**
 * The fields moving between subgraphs in the shop graph: `Product.averageRating`
 * and `reviewCount`, served by reviews and overridden by products behind a
 * `percent(…)` label (subgraphs/products/schema.graphql). Planned and run by
 * the override tests alike.
 */
export const ratedProductQuery = /* GraphQL */ `
  query Rated($id: ID!) {
    product(id: $id) {
      name
      averageRating
      reviewCount
    }
  }
`;
