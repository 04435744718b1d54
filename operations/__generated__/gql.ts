/* eslint-disable */
import * as types from './graphql.ts';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query OrderHistory($first: Int = 10, $after: String) {\n  viewer {\n    id\n    name\n    email\n    orders(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          status\n          createdAt\n          total {\n            centAmount\n            currencyCode\n          }\n          items {\n            quantity\n            unitPrice {\n              centAmount\n              currencyCode\n            }\n            subtotal {\n              centAmount\n              currencyCode\n            }\n            product {\n              id\n              name\n              sku\n            }\n          }\n        }\n      }\n    }\n  }\n}": typeof types.OrderHistoryDocument,
    "query Cart($productIds: [ID!]!) {\n  productsById(ids: $productIds) {\n    id\n    sku\n    name\n    price {\n      centAmount\n      currencyCode\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n  }\n}": typeof types.CartDocument,
    "query CatalogPage($first: Int = 24, $after: String, $filter: ProductFilter, $orderBy: ProductOrder = NEWEST) {\n  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...ProductCard\n      }\n    }\n  }\n}\n\nfragment ProductCard on Product {\n  id\n  sku\n  name\n  price {\n    centAmount\n    currencyCode\n  }\n  inStock\n  averageRating\n  reviewCount\n}": typeof types.CatalogPageDocument,
    "query Categories {\n  categories {\n    id\n    slug\n    name\n  }\n}": typeof types.CategoriesDocument,
    "query ProductPage($id: ID, $sku: String, $reviews: Int = 10) {\n  product(id: $id, sku: $sku) {\n    id\n    sku\n    name\n    description\n    price {\n      centAmount\n      currencyCode\n    }\n    category {\n      slug\n      name\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n    averageRating\n    reviewCount\n    reviews(first: $reviews) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}\n\nquery ProductReviews($id: ID!, $first: Int = 10, $after: String) {\n  product(id: $id) {\n    id\n    reviews(first: $first, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}": typeof types.ProductPageDocument,
};
const documents: Documents = {
    "query OrderHistory($first: Int = 10, $after: String) {\n  viewer {\n    id\n    name\n    email\n    orders(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          status\n          createdAt\n          total {\n            centAmount\n            currencyCode\n          }\n          items {\n            quantity\n            unitPrice {\n              centAmount\n              currencyCode\n            }\n            subtotal {\n              centAmount\n              currencyCode\n            }\n            product {\n              id\n              name\n              sku\n            }\n          }\n        }\n      }\n    }\n  }\n}": types.OrderHistoryDocument,
    "query Cart($productIds: [ID!]!) {\n  productsById(ids: $productIds) {\n    id\n    sku\n    name\n    price {\n      centAmount\n      currencyCode\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n  }\n}": types.CartDocument,
    "query CatalogPage($first: Int = 24, $after: String, $filter: ProductFilter, $orderBy: ProductOrder = NEWEST) {\n  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...ProductCard\n      }\n    }\n  }\n}\n\nfragment ProductCard on Product {\n  id\n  sku\n  name\n  price {\n    centAmount\n    currencyCode\n  }\n  inStock\n  averageRating\n  reviewCount\n}": types.CatalogPageDocument,
    "query Categories {\n  categories {\n    id\n    slug\n    name\n  }\n}": types.CategoriesDocument,
    "query ProductPage($id: ID, $sku: String, $reviews: Int = 10) {\n  product(id: $id, sku: $sku) {\n    id\n    sku\n    name\n    description\n    price {\n      centAmount\n      currencyCode\n    }\n    category {\n      slug\n      name\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n    averageRating\n    reviewCount\n    reviews(first: $reviews) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}\n\nquery ProductReviews($id: ID!, $first: Int = 10, $after: String) {\n  product(id: $id) {\n    id\n    reviews(first: $first, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}": types.ProductPageDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query OrderHistory($first: Int = 10, $after: String) {\n  viewer {\n    id\n    name\n    email\n    orders(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          status\n          createdAt\n          total {\n            centAmount\n            currencyCode\n          }\n          items {\n            quantity\n            unitPrice {\n              centAmount\n              currencyCode\n            }\n            subtotal {\n              centAmount\n              currencyCode\n            }\n            product {\n              id\n              name\n              sku\n            }\n          }\n        }\n      }\n    }\n  }\n}"): (typeof documents)["query OrderHistory($first: Int = 10, $after: String) {\n  viewer {\n    id\n    name\n    email\n    orders(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          status\n          createdAt\n          total {\n            centAmount\n            currencyCode\n          }\n          items {\n            quantity\n            unitPrice {\n              centAmount\n              currencyCode\n            }\n            subtotal {\n              centAmount\n              currencyCode\n            }\n            product {\n              id\n              name\n              sku\n            }\n          }\n        }\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Cart($productIds: [ID!]!) {\n  productsById(ids: $productIds) {\n    id\n    sku\n    name\n    price {\n      centAmount\n      currencyCode\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n  }\n}"): (typeof documents)["query Cart($productIds: [ID!]!) {\n  productsById(ids: $productIds) {\n    id\n    sku\n    name\n    price {\n      centAmount\n      currencyCode\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query CatalogPage($first: Int = 24, $after: String, $filter: ProductFilter, $orderBy: ProductOrder = NEWEST) {\n  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...ProductCard\n      }\n    }\n  }\n}\n\nfragment ProductCard on Product {\n  id\n  sku\n  name\n  price {\n    centAmount\n    currencyCode\n  }\n  inStock\n  averageRating\n  reviewCount\n}"): (typeof documents)["query CatalogPage($first: Int = 24, $after: String, $filter: ProductFilter, $orderBy: ProductOrder = NEWEST) {\n  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...ProductCard\n      }\n    }\n  }\n}\n\nfragment ProductCard on Product {\n  id\n  sku\n  name\n  price {\n    centAmount\n    currencyCode\n  }\n  inStock\n  averageRating\n  reviewCount\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Categories {\n  categories {\n    id\n    slug\n    name\n  }\n}"): (typeof documents)["query Categories {\n  categories {\n    id\n    slug\n    name\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ProductPage($id: ID, $sku: String, $reviews: Int = 10) {\n  product(id: $id, sku: $sku) {\n    id\n    sku\n    name\n    description\n    price {\n      centAmount\n      currencyCode\n    }\n    category {\n      slug\n      name\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n    averageRating\n    reviewCount\n    reviews(first: $reviews) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}\n\nquery ProductReviews($id: ID!, $first: Int = 10, $after: String) {\n  product(id: $id) {\n    id\n    reviews(first: $first, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}"): (typeof documents)["query ProductPage($id: ID, $sku: String, $reviews: Int = 10) {\n  product(id: $id, sku: $sku) {\n    id\n    sku\n    name\n    description\n    price {\n      centAmount\n      currencyCode\n    }\n    category {\n      slug\n      name\n    }\n    quantity\n    inStock\n    shippingEstimate {\n      centAmount\n      currencyCode\n    }\n    averageRating\n    reviewCount\n    reviews(first: $reviews) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}\n\nquery ProductReviews($id: ID!, $first: Int = 10, $after: String) {\n  product(id: $id) {\n    id\n    reviews(first: $first, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          rating\n          body\n          createdAt\n          author {\n            id\n            username\n          }\n        }\n      }\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;