import { createHash } from 'node:crypto';
import type { HTTPGraphQLRequest, HTTPGraphQLResponse } from '@apollo/server';
import { Kind, parse } from 'graphql';
import { LRUCache } from 'lru-cache';
import { errorResponse, ErrorCode } from '../../platform/src/errors.ts';

/*
 * The router's one reading of a GraphQL-over-HTTP request in front of
 * Apollo Server. Every front stage (safelist, response cache, rate limit)
 * reads what this module read, once per request (RouterRequest.operation).
 *
 * Why a front at all, rather than serving hits from Apollo Server's
 * `responseForOperation`: a hit answered there pays Apollo Server's whole
 * request pipeline first (context, parse or document cache, validation,
 * operation resolution), which is most of what a hit costs, and the
 * cache-hit figure of the benchmark would regress. A hit answered here is
 * a lookup and the stored bytes. The price is that Apollo Server's HTTP
 * rules are restated here, so every rule a hit relies on lives in this one
 * module, and the GraphQL-over-HTTP audit and the hostile-input tests run
 * each case against a hit as well as a miss to hold the two together.
 */

/** What a GraphQL-over-HTTP request asks for, as the router's front stages read it. */
export interface OperationRequest {
  /** The document text, when the client sent it (or a stage filled it in). */
  query: string | undefined;
  /**
   * sha256 (hex) naming the document: from `extensions.persistedQuery`
   * (APQ and trusted documents) or `documentId`, else the hash of `query`.
   */
  documentHash: string | undefined;
  /**
   * What Apollo Server does with the request's `extensions.persistedQuery`:
   * `lookup`, a hash alone, runs only if its APQ store holds the document;
   * `register`, a hash with its text, writes the text to that store. Null:
   * no persisted query.
   */
  apq: 'lookup' | 'register' | null;
  operationName: string | undefined;
  /** The variables as canonical-enough JSON: key order as the client sent it. */
  variablesJson: string;
  /**
   * Apollo Server's CSRF prevention would let the request through: only
   * such a request may be answered without it (`passesCsrfPrevention`).
   */
  passesCsrfPrevention: boolean;
}

/**
 * - `read`: a single operation in a request Apollo Server would accept as
 *   far as its envelope goes (shape, APQ fields, GET parameters). The
 *   response cache serves only these, so it never answers a request Apollo
 *   Server would refuse.
 * - `refused`: the client's mistake, answered by the router with a coded
 *   400, because Apollo Server would answer it as an internal error (an APQ
 *   hash that does not match, an unknown version) or could not answer it at
 *   all (JSON too deep to serialise).
 * - `unread`: anything else (batches, malformed envelopes, other methods):
 *   Apollo Server's to answer, and never served from the cache.
 */
export type OperationRead =
  | { status: 'read'; operation: OperationRequest }
  | { status: 'refused'; response: HTTPGraphQLResponse }
  | { status: 'unread' };

/**
 * Deepest nesting of arrays and objects a request's JSON may have. Every
 * input type the shop ships nests a handful of levels; hundreds of
 * thousands are an attack on every recursive walk after parsing
 * (`JSON.stringify`, variable coercion, logging), which would overflow the
 * stack.
 */
export const maxRequestJsonDepth = 64;

const sha256Hex = /^[a-f0-9]{64}$/;
const unread: OperationRead = { status: 'unread' };

/** Reads a request the way Apollo Server's `runHttpQuery` does, and refuses what it would mishandle. */
export function readOperationRequest(request: HTTPGraphQLRequest): OperationRead {
  if (request.method === 'POST') {
    if (nestsDeeperThan(request.body, maxRequestJsonDepth)) return tooDeep();
    if (Array.isArray(request.body)) {
      // A batch is Apollo Server's to run or refuse, operation by operation;
      // an operation it would mishandle refuses the whole request here.
      for (const item of request.body as unknown[]) {
        const read = readParams(item, request.headers);
        if (read.status === 'refused') return read;
      }
      return unread;
    }
    return readParams(request.body, request.headers);
  }
  if (request.method !== 'GET') return unread;
  // Apollo Server answers 415 to a GET whose content type is not JSON.
  const contentType = request.headers.get('content-type');
  if (contentType !== undefined && mediaTypeOf(contentType) !== 'application/json') return unread;
  const search = new URLSearchParams(request.search);
  const params: Record<string, unknown> = {};
  for (const name of ['query', 'operationName', 'documentId', 'variables', 'extensions'] as const) {
    const values = search.getAll(name);
    // Apollo Server refuses a parameter given twice.
    if (values.length > 1) return unread;
    if (values.length === 0) continue;
    if (name !== 'variables' && name !== 'extensions') {
      params[name] = values[0];
      continue;
    }
    const parsed = parseJsonParam(values[0]!);
    // Unreadable JSON, or JSON that is not an object (null included), Apollo Server refuses.
    if (parsed === invalid || !isRecord(parsed)) return unread;
    if (nestsDeeperThan(parsed, maxRequestJsonDepth - 1)) return tooDeep();
    params[name] = parsed;
  }
  return readParams(params, request.headers);
}

/** One operation's fields, from a POST body or a GET's parameters. */
function readParams(params: unknown, headers: HTTPGraphQLRequest['headers']): OperationRead {
  if (!isRecord(params) || Object.keys(params).length === 0) return unread;
  const { query, operationName, variables, extensions } = params;
  if (query !== undefined && query !== null && typeof query !== 'string') return unread;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return unread;
  if (variables !== undefined && variables !== null && !isRecord(variables)) return unread;
  if (extensions !== undefined && extensions !== null && !isRecord(extensions)) return unread;
  const text = typeof query === 'string' ? query : undefined;

  const persisted = extensions?.persistedQuery;
  let persistedHash: string | undefined;
  if (persisted !== undefined && persisted !== null) {
    // Apollo Server reads these fields without checking them first, and
    // answers every mistake here as an internal error: they are refused
    // here, with a code the client can act on.
    if (!isRecord(persisted))
      return refused(
        ErrorCode.BadRequest,
        '`extensions.persistedQuery` must be an object: { "version": 1, "sha256Hash": "<sha256 of the query>" }.',
      );
    if (persisted.version !== 1)
      return refused(ErrorCode.BadRequest, 'Only version 1 of `extensions.persistedQuery` is supported.');
    if (typeof persisted.sha256Hash !== 'string' || !sha256Hex.test(persisted.sha256Hash))
      return refused(
        ErrorCode.BadRequest,
        '`extensions.persistedQuery.sha256Hash` must be the sha256 of the query, in 64 lowercase hex digits.',
      );
    persistedHash = persisted.sha256Hash;
    if (text !== undefined && documentHash(text) !== persistedHash)
      return refused(
        ErrorCode.PersistedQueryHashMismatch,
        'The query does not match `extensions.persistedQuery.sha256Hash`: send the sha256 of the exact query text.',
      );
  }

  let namedHash = persistedHash;
  const { documentId } = params;
  if (documentId !== undefined && documentId !== null) {
    // Trusted-document clients may prefix the hash (`sha256:<hex>`). Apollo
    // Server does not know `documentId`: the safelist stage resolves it, and
    // a request it leaves unresolved is never served from the cache.
    const id = typeof documentId === 'string' ? documentId.replace(/^sha256:/, '') : '';
    if (!sha256Hex.test(id)) return unread;
    // Apollo Server would run the text and ignore the id: never a key to serve by.
    if (text !== undefined && documentHash(text) !== id) return unread;
    if (persistedHash !== undefined && persistedHash !== id) return unread;
    namedHash = id;
  }
  return {
    status: 'read',
    operation: {
      query: text,
      documentHash: namedHash ?? (text !== undefined ? documentHash(text) : undefined),
      apq: persistedHash === undefined ? null : text === undefined ? 'lookup' : 'register',
      operationName: typeof operationName === 'string' ? operationName : undefined,
      // Safe to serialise: the depth was bounded above.
      variablesJson: variables ? JSON.stringify(variables) : '{}',
      passesCsrfPrevention: passesCsrfPrevention(headers),
    },
  };
}

const simpleContentTypes = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);
const preflightHeaders = ['apollo-require-preflight', 'x-apollo-operation-name'];

/**
 * Whether Apollo Server's CSRF prevention would let this request through
 * (its rule, restated): a request with a content type other than the three
 * a browser sends without a preflight passes; any other needs a non-empty
 * preflight header.
 */
export function passesCsrfPrevention(headers: HTTPGraphQLRequest['headers']): boolean {
  const contentType = headers.get('content-type');
  if (contentType !== undefined && !simpleContentTypes.has(mediaTypeOf(contentType))) return true;
  return preflightHeaders.some((header) => (headers.get(header) ?? '') !== '');
}

function refused(code: ErrorCode, message: string): OperationRead {
  return { status: 'refused', response: errorResponse(code, message) };
}

function tooDeep(): OperationRead {
  return refused(ErrorCode.BadRequest, `The request's JSON nests deeper than ${maxRequestJsonDepth} levels.`);
}

/**
 * Whether `value` nests arrays and objects deeper than `max` levels. A
 * loop over an explicit stack, not recursion: it must hold for any depth
 * JSON.parse (which does not recurse) can produce.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) {
        nodes.push(child as object);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** The media type of a Content-Type value, without parameters, lower-cased. */
export function mediaTypeOf(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
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

/** Operation names by document hash; null for an anonymous operation or a document with several. */
const soleOperationNames = new LRUCache<string, { name: string | null }>({ max: 2_000 });

/**
 * The name of a document's only operation, as Apollo Server resolves it
 * when a request names none; null when it is anonymous. For documents
 * Apollo Server has already run (a cache hit): one parse per document,
 * remembered by its hash.
 */
export function soleOperationName(documentHash: string, query: string): string | null {
  let known = soleOperationNames.get(documentHash);
  if (known === undefined) {
    let name: string | null = null;
    try {
      const operations = parse(query, { noLocation: true }).definitions.filter(
        (definition) => definition.kind === Kind.OPERATION_DEFINITION,
      );
      if (operations.length === 1 && operations[0]!.kind === Kind.OPERATION_DEFINITION)
        name = operations[0]!.name?.value ?? null;
    } catch {
      // Unparseable: Apollo Server refuses it, so it names no operation.
    }
    soleOperationNames.set(documentHash, (known = { name }));
  }
  return known.name;
}

const invalid = Symbol('invalid');

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
