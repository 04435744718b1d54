import type { FetchNode } from '@apollo/query-planner';
import { parse, type DocumentNode } from 'graphql';

/** Subgraph operations are parsed once per plan node; a plan lives as long as its cache keeps it. */
const documents = new WeakMap<FetchNode, DocumentNode>();

/** The parsed operation of a fetch: the planner's own document when it kept one. */
export function documentOf(fetch: FetchNode): DocumentNode {
  let document = fetch.operationDocumentNode ?? documents.get(fetch);
  if (!document) documents.set(fetch, (document = parse(fetch.operation)));
  return document;
}
