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
    "\n  mutation Place($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      created\n      order {\n        id\n        status\n        total {\n          centAmount\n          currencyCode\n        }\n        items {\n          quantity\n          unitPrice {\n            centAmount\n          }\n          product {\n            id\n          }\n        }\n      }\n    }\n  }\n": typeof types.PlaceDocument,
    "\n  mutation Cancel($id: ID!) {\n    cancelOrder(id: $id) {\n      order {\n        id\n        status\n      }\n    }\n  }\n": typeof types.CancelDocument,
    "\n    query ProductAcrossSubgraphs($id: ID, $sku: String) {\n      product(id: $id, sku: $sku) {\n        id\n        sku\n        name\n        price {\n          centAmount\n          currencyCode\n        }\n        weightGrams\n        category {\n          slug\n        }\n        quantity\n        inStock\n        shippingEstimate {\n          centAmount\n          currencyCode\n        }\n        averageRating\n        reviewCount\n        reviews(first: 100) {\n          totalCount\n          edges {\n            node {\n              id\n              rating\n              author {\n                id\n                username\n                name\n              }\n              product {\n                id\n              }\n            }\n          }\n        }\n      }\n    }\n  ": typeof types.ProductAcrossSubgraphsDocument,
    "\n        query ProductsByIds($ids: [ID!]!) {\n          productsById(ids: $ids) {\n            id\n            name\n            quantity\n            price {\n              centAmount\n            }\n          }\n        }\n      ": typeof types.ProductsByIdsDocument,
    "\n          query UnknownIds($id: ID!) {\n            product(id: $id) {\n              name\n            }\n            user(id: $id) {\n              name\n            }\n            review(id: $id) {\n              body\n            }\n          }\n        ": typeof types.UnknownIdsDocument,
    "\n          query CatalogWalk($after: String, $orderBy: ProductOrder) {\n            products(first: 7, after: $after, orderBy: $orderBy) {\n              totalCount\n              pageInfo {\n                hasNextPage\n                hasPreviousPage\n                endCursor\n              }\n              edges {\n                cursor\n                node {\n                  id\n                }\n              }\n            }\n          }\n        ": typeof types.CatalogWalkDocument,
    "\n        query CatalogFiltered($filter: ProductFilter) {\n          products(first: 100, filter: $filter) {\n            totalCount\n            edges {\n              node {\n                id\n              }\n            }\n          }\n        }\n      ": typeof types.CatalogFilteredDocument,
    "\n        query SearchWildcard {\n          products(filter: { search: \"%\" }) {\n            totalCount\n          }\n        }\n      ": typeof types.SearchWildcardDocument,
    "\n        query EmptyPage {\n          products(first: 0) {\n            totalCount\n            edges {\n              cursor\n            }\n            pageInfo {\n              hasNextPage\n              endCursor\n            }\n          }\n        }\n      ": typeof types.EmptyPageDocument,
    "\n          query UserAcrossSubgraphs($id: ID!) {\n            user(id: $id) {\n              username\n              reviews(first: 100) {\n                totalCount\n              }\n              orders(first: 100) {\n                totalCount\n                edges {\n                  node {\n                    id\n                    total {\n                      centAmount\n                    }\n                    items {\n                      quantity\n                      unitPrice {\n                        centAmount\n                      }\n                      subtotal {\n                        centAmount\n                      }\n                      product {\n                        id\n                        name\n                      }\n                    }\n                  }\n                }\n              }\n            }\n          }\n        ": typeof types.UserAcrossSubgraphsDocument,
    "\n          query FirstByPrice {\n            products(first: 1, orderBy: PRICE_ASC) {\n              pageInfo {\n                endCursor\n              }\n            }\n          }\n        ": typeof types.FirstByPriceDocument,
};
const documents: Documents = {
    "\n  mutation Place($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      created\n      order {\n        id\n        status\n        total {\n          centAmount\n          currencyCode\n        }\n        items {\n          quantity\n          unitPrice {\n            centAmount\n          }\n          product {\n            id\n          }\n        }\n      }\n    }\n  }\n": types.PlaceDocument,
    "\n  mutation Cancel($id: ID!) {\n    cancelOrder(id: $id) {\n      order {\n        id\n        status\n      }\n    }\n  }\n": types.CancelDocument,
    "\n    query ProductAcrossSubgraphs($id: ID, $sku: String) {\n      product(id: $id, sku: $sku) {\n        id\n        sku\n        name\n        price {\n          centAmount\n          currencyCode\n        }\n        weightGrams\n        category {\n          slug\n        }\n        quantity\n        inStock\n        shippingEstimate {\n          centAmount\n          currencyCode\n        }\n        averageRating\n        reviewCount\n        reviews(first: 100) {\n          totalCount\n          edges {\n            node {\n              id\n              rating\n              author {\n                id\n                username\n                name\n              }\n              product {\n                id\n              }\n            }\n          }\n        }\n      }\n    }\n  ": types.ProductAcrossSubgraphsDocument,
    "\n        query ProductsByIds($ids: [ID!]!) {\n          productsById(ids: $ids) {\n            id\n            name\n            quantity\n            price {\n              centAmount\n            }\n          }\n        }\n      ": types.ProductsByIdsDocument,
    "\n          query UnknownIds($id: ID!) {\n            product(id: $id) {\n              name\n            }\n            user(id: $id) {\n              name\n            }\n            review(id: $id) {\n              body\n            }\n          }\n        ": types.UnknownIdsDocument,
    "\n          query CatalogWalk($after: String, $orderBy: ProductOrder) {\n            products(first: 7, after: $after, orderBy: $orderBy) {\n              totalCount\n              pageInfo {\n                hasNextPage\n                hasPreviousPage\n                endCursor\n              }\n              edges {\n                cursor\n                node {\n                  id\n                }\n              }\n            }\n          }\n        ": types.CatalogWalkDocument,
    "\n        query CatalogFiltered($filter: ProductFilter) {\n          products(first: 100, filter: $filter) {\n            totalCount\n            edges {\n              node {\n                id\n              }\n            }\n          }\n        }\n      ": types.CatalogFilteredDocument,
    "\n        query SearchWildcard {\n          products(filter: { search: \"%\" }) {\n            totalCount\n          }\n        }\n      ": types.SearchWildcardDocument,
    "\n        query EmptyPage {\n          products(first: 0) {\n            totalCount\n            edges {\n              cursor\n            }\n            pageInfo {\n              hasNextPage\n              endCursor\n            }\n          }\n        }\n      ": types.EmptyPageDocument,
    "\n          query UserAcrossSubgraphs($id: ID!) {\n            user(id: $id) {\n              username\n              reviews(first: 100) {\n                totalCount\n              }\n              orders(first: 100) {\n                totalCount\n                edges {\n                  node {\n                    id\n                    total {\n                      centAmount\n                    }\n                    items {\n                      quantity\n                      unitPrice {\n                        centAmount\n                      }\n                      subtotal {\n                        centAmount\n                      }\n                      product {\n                        id\n                        name\n                      }\n                    }\n                  }\n                }\n              }\n            }\n          }\n        ": types.UserAcrossSubgraphsDocument,
    "\n          query FirstByPrice {\n            products(first: 1, orderBy: PRICE_ASC) {\n              pageInfo {\n                endCursor\n              }\n            }\n          }\n        ": types.FirstByPriceDocument,
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
export function graphql(source: "\n  mutation Place($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      created\n      order {\n        id\n        status\n        total {\n          centAmount\n          currencyCode\n        }\n        items {\n          quantity\n          unitPrice {\n            centAmount\n          }\n          product {\n            id\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Place($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      created\n      order {\n        id\n        status\n        total {\n          centAmount\n          currencyCode\n        }\n        items {\n          quantity\n          unitPrice {\n            centAmount\n          }\n          product {\n            id\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Cancel($id: ID!) {\n    cancelOrder(id: $id) {\n      order {\n        id\n        status\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Cancel($id: ID!) {\n    cancelOrder(id: $id) {\n      order {\n        id\n        status\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query ProductAcrossSubgraphs($id: ID, $sku: String) {\n      product(id: $id, sku: $sku) {\n        id\n        sku\n        name\n        price {\n          centAmount\n          currencyCode\n        }\n        weightGrams\n        category {\n          slug\n        }\n        quantity\n        inStock\n        shippingEstimate {\n          centAmount\n          currencyCode\n        }\n        averageRating\n        reviewCount\n        reviews(first: 100) {\n          totalCount\n          edges {\n            node {\n              id\n              rating\n              author {\n                id\n                username\n                name\n              }\n              product {\n                id\n              }\n            }\n          }\n        }\n      }\n    }\n  "): (typeof documents)["\n    query ProductAcrossSubgraphs($id: ID, $sku: String) {\n      product(id: $id, sku: $sku) {\n        id\n        sku\n        name\n        price {\n          centAmount\n          currencyCode\n        }\n        weightGrams\n        category {\n          slug\n        }\n        quantity\n        inStock\n        shippingEstimate {\n          centAmount\n          currencyCode\n        }\n        averageRating\n        reviewCount\n        reviews(first: 100) {\n          totalCount\n          edges {\n            node {\n              id\n              rating\n              author {\n                id\n                username\n                name\n              }\n              product {\n                id\n              }\n            }\n          }\n        }\n      }\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n        query ProductsByIds($ids: [ID!]!) {\n          productsById(ids: $ids) {\n            id\n            name\n            quantity\n            price {\n              centAmount\n            }\n          }\n        }\n      "): (typeof documents)["\n        query ProductsByIds($ids: [ID!]!) {\n          productsById(ids: $ids) {\n            id\n            name\n            quantity\n            price {\n              centAmount\n            }\n          }\n        }\n      "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n          query UnknownIds($id: ID!) {\n            product(id: $id) {\n              name\n            }\n            user(id: $id) {\n              name\n            }\n            review(id: $id) {\n              body\n            }\n          }\n        "): (typeof documents)["\n          query UnknownIds($id: ID!) {\n            product(id: $id) {\n              name\n            }\n            user(id: $id) {\n              name\n            }\n            review(id: $id) {\n              body\n            }\n          }\n        "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n          query CatalogWalk($after: String, $orderBy: ProductOrder) {\n            products(first: 7, after: $after, orderBy: $orderBy) {\n              totalCount\n              pageInfo {\n                hasNextPage\n                hasPreviousPage\n                endCursor\n              }\n              edges {\n                cursor\n                node {\n                  id\n                }\n              }\n            }\n          }\n        "): (typeof documents)["\n          query CatalogWalk($after: String, $orderBy: ProductOrder) {\n            products(first: 7, after: $after, orderBy: $orderBy) {\n              totalCount\n              pageInfo {\n                hasNextPage\n                hasPreviousPage\n                endCursor\n              }\n              edges {\n                cursor\n                node {\n                  id\n                }\n              }\n            }\n          }\n        "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n        query CatalogFiltered($filter: ProductFilter) {\n          products(first: 100, filter: $filter) {\n            totalCount\n            edges {\n              node {\n                id\n              }\n            }\n          }\n        }\n      "): (typeof documents)["\n        query CatalogFiltered($filter: ProductFilter) {\n          products(first: 100, filter: $filter) {\n            totalCount\n            edges {\n              node {\n                id\n              }\n            }\n          }\n        }\n      "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n        query SearchWildcard {\n          products(filter: { search: \"%\" }) {\n            totalCount\n          }\n        }\n      "): (typeof documents)["\n        query SearchWildcard {\n          products(filter: { search: \"%\" }) {\n            totalCount\n          }\n        }\n      "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n        query EmptyPage {\n          products(first: 0) {\n            totalCount\n            edges {\n              cursor\n            }\n            pageInfo {\n              hasNextPage\n              endCursor\n            }\n          }\n        }\n      "): (typeof documents)["\n        query EmptyPage {\n          products(first: 0) {\n            totalCount\n            edges {\n              cursor\n            }\n            pageInfo {\n              hasNextPage\n              endCursor\n            }\n          }\n        }\n      "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n          query UserAcrossSubgraphs($id: ID!) {\n            user(id: $id) {\n              username\n              reviews(first: 100) {\n                totalCount\n              }\n              orders(first: 100) {\n                totalCount\n                edges {\n                  node {\n                    id\n                    total {\n                      centAmount\n                    }\n                    items {\n                      quantity\n                      unitPrice {\n                        centAmount\n                      }\n                      subtotal {\n                        centAmount\n                      }\n                      product {\n                        id\n                        name\n                      }\n                    }\n                  }\n                }\n              }\n            }\n          }\n        "): (typeof documents)["\n          query UserAcrossSubgraphs($id: ID!) {\n            user(id: $id) {\n              username\n              reviews(first: 100) {\n                totalCount\n              }\n              orders(first: 100) {\n                totalCount\n                edges {\n                  node {\n                    id\n                    total {\n                      centAmount\n                    }\n                    items {\n                      quantity\n                      unitPrice {\n                        centAmount\n                      }\n                      subtotal {\n                        centAmount\n                      }\n                      product {\n                        id\n                        name\n                      }\n                    }\n                  }\n                }\n              }\n            }\n          }\n        "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n          query FirstByPrice {\n            products(first: 1, orderBy: PRICE_ASC) {\n              pageInfo {\n                endCursor\n              }\n            }\n          }\n        "): (typeof documents)["\n          query FirstByPrice {\n            products(first: 1, orderBy: PRICE_ASC) {\n              pageInfo {\n                endCursor\n              }\n            }\n          }\n        "];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;