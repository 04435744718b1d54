import { createHash } from 'node:crypto';
import type { HTTPGraphQLRequest } from '@apollo/server';
import { LRUCache } from 'lru-cache';

/**
 * What a GraphQL-over-HTTP request asks for, read once by the router's own
 * stages (safelist, response cache) before Apollo Server sees it. Apollo
 * Server still does the protocol work and owns every error: a request these
 * stages cannot read is passed through untouched.
 */
export interface OperationRequest {
  /** The document text, when the client sent it. */
  query: string | undefined;
  /**
   * sha256 (hex) naming the document: from `extensions.persistedQuery`
   * (APQ and trusted documents) or `documentId`, else the hash of `query`.
   */
  documentHash: string | undefined;
  operationName: string | undefined;
  /** The variables as canonical-enough JSON: key order as the client sent it. */
  variablesJson: string;
}

const sha256Hex = /^[a-f0-9]{64}$/;

/** The one request of a single (non-batched) GraphQL request, or null when it is malformed or batched. */
export function readOperationRequest(request: HTTPGraphQLRequest): OperationRequest | null {
  let params: Record<string, unknown>;
  if (request.method === 'GET') {
    const search = new URLSearchParams(request.search);
    const variables = parseJsonParam(search.get('variables'));
    const extensions = parseJsonParam(search.get('extensions'));
    if (variables === invalid || extensions === invalid) return null;
    params = {
      query: search.get('query') ?? undefined,
      operationName: search.get('operationName') ?? undefined,
      documentId: search.get('documentId') ?? undefined,
      variables,
      extensions,
    };
  } else if (isRecord(request.body)) {
    params = request.body;
  } else {
    return null;
  }

  const { query, operationName, variables } = params;
  if (query !== undefined && typeof query !== 'string') return null;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null;
  if (variables !== undefined && variables !== null && !isRecord(variables)) return null;
  const namedHash = documentHashOf(params);
  if (namedHash === invalid) return null;
  const textHash = query !== undefined ? documentHash(query) : undefined;
  // A hash that does not match the text is Apollo's to reject, never a key to serve by.
  if (namedHash !== undefined && textHash !== undefined && namedHash !== textHash) return null;
  return {
    query,
    documentHash: namedHash ?? textHash,
    operationName: operationName ?? undefined,
    variablesJson: variables ? JSON.stringify(variables) : '{}',
  };
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Clients send the same few documents over and over: hash each text once. */
const documentHashes = new LRUCache<string, string>({
  max: 2_000,
  maxSize: 8 * 1024 * 1024,
  sizeCalculation: (_, key) => key.length || 1,
});

function documentHash(query: string): string {
  let hash = documentHashes.get(query);
  if (hash === undefined) documentHashes.set(query, (hash = sha256(query)));
  return hash;
}

const invalid = Symbol('invalid');

function documentHashOf(params: Record<string, unknown>): string | undefined | typeof invalid {
  const { documentId, extensions } = params;
  if (documentId !== undefined && documentId !== null) {
    // Trusted-document clients may prefix the hash (`sha256:<hex>`).
    const id = typeof documentId === 'string' ? documentId.replace(/^sha256:/, '') : '';
    return sha256Hex.test(id) ? id : invalid;
  }
  if (extensions === undefined || extensions === null) return undefined;
  if (!isRecord(extensions)) return invalid;
  const persisted = extensions.persistedQuery;
  if (persisted === undefined) return undefined;
  if (!isRecord(persisted) || typeof persisted.sha256Hash !== 'string') return invalid;
  const hash = persisted.sha256Hash.toLowerCase();
  return sha256Hex.test(hash) ? hash : invalid;
}

/** A JSON-encoded GET parameter; unreadable JSON is `invalid`, a missing one undefined. */
export function parseJsonParam(value: string | null): unknown {
  if (value === null) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return invalid;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
