import { readFile } from 'node:fs/promises';
import type { HTTPGraphQLRequest, HTTPGraphQLResponse } from '@apollo/server';
import { Kind, parse } from 'graphql';
import { errorResponse, ErrorCode } from '../../../../platform/src/errors.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import type { WarmOperation } from '../../executor/plans/index.ts';
import {
  isRecord,
  parseJsonParam,
  readOperationRequest,
  sha256,
  type OperationRequest,
} from '../../operation-request.ts';
import type { RouterPlugin, RouterRequest } from '../plugin.ts';

/**
 * - `off`: the manifest is not consulted.
 * - `allow`: manifest operations are served by hash alone; any other
 *   document still runs, and is logged once, to find what a client sends
 *   before turning enforcement on.
 * - `enforce`: only manifest operations run; anything else is refused.
 */
export type TrustedDocumentsMode = 'off' | 'allow' | 'enforce';

export const trustedDocumentsModes = ['off', 'allow', 'enforce'] as const;

export interface TrustedDocumentsOptions {
  mode: TrustedDocumentsMode;
  /** Documents by the sha256 (hex) of their text. */
  manifest: ReadonlyMap<string, string>;
  logger: Logger;
  /** Distinct unlisted documents logged in `allow` mode before it goes quiet. Default: 1000. */
  maxLoggedUnlisted?: number;
}

export type TrustedDocumentsOutcome =
  | {
      status: 'pass';
      request: HTTPGraphQLRequest;
      /** Every operation of the request is in the manifest (never true in `off` mode). */
      trusted: boolean;
      /** The single operation as read here (null: unreadable), so later stages need not read it again. */
      operation?: OperationRequest | null;
    }
  | { status: 'reject'; response: HTTPGraphQLResponse };

/**
 * Reads a manifest in the format GraphQL Code Generator's client preset
 * writes: `{ "<sha256>": "<document>" }`. Every key must be the hash of its
 * document, so a manifest cannot smuggle in a document under another's name.
 */
export async function loadTrustedDocuments(path: string): Promise<Map<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read trusted documents from ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`${path}: expected an object of { "<sha256>": "<document>" }`);
  const manifest = new Map<string, string>();
  for (const [hash, document] of Object.entries(parsed)) {
    if (typeof document !== 'string') throw new Error(`${path}: the document for ${hash} is not a string`);
    const actual = sha256(document);
    if (actual !== hash.replace(/^sha256:/, '').toLowerCase())
      throw new Error(`${path}: ${hash} is not the sha256 of its document (that is ${actual})`);
    manifest.set(actual, document);
  }
  return manifest;
}

/**
 * The manifest's operations, one for each operation a document defines
 * (a document may hold several, each sent with its name), parsed once here:
 * what a supergraph version plans before it serves. A document that does
 * not parse is listed as its text, so the warm-up counts it as failed
 * rather than this dropping it unseen.
 */
export function operationsOf(manifest: ReadonlyMap<string, string>): WarmOperation[] {
  const operations: WarmOperation[] = [];
  for (const text of manifest.values()) {
    let document;
    try {
      document = parse(text, { noLocation: true });
    } catch {
      operations.push({ document: text });
      continue;
    }
    const definitions = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
    for (const { name } of definitions) {
      // An anonymous operation is only valid alone in its document, and then needs no name.
      operations.push(name ? { document, operationName: name.value } : { document });
    }
  }
  return operations;
}

/**
 * The safelist stage, in front of Apollo Server: it swaps a manifest hash
 * for its document and, when enforcing, refuses everything else — on GET
 * and POST, for APQ hashes, and for every operation of a batch.
 */
export class TrustedDocuments {
  readonly mode: TrustedDocumentsMode;
  private readonly manifest: ReadonlyMap<string, string>;
  private readonly logger: Logger;
  private readonly loggedUnlisted = new Set<string>();
  private readonly maxLoggedUnlisted: number;

  constructor({ mode, manifest, logger, maxLoggedUnlisted = 1000 }: TrustedDocumentsOptions) {
    this.mode = mode;
    this.manifest = manifest;
    this.logger = logger;
    this.maxLoggedUnlisted = maxLoggedUnlisted;
  }

  /**
   * `operation` is the request as the router already read it (null: not a
   * single operation it could read), so it is not read twice. Default: read here.
   */
  check(request: HTTPGraphQLRequest, operation?: OperationRequest | null): TrustedDocumentsOutcome {
    if (this.mode === 'off') return { status: 'pass', request, trusted: false };
    if (Array.isArray(request.body)) {
      const operations: unknown[] = [];
      let trusted = true;
      for (const item of request.body as unknown[]) {
        const one = { ...request, body: item };
        const outcome = this.checkOne(one, singleOperation(one));
        if (outcome.status === 'reject') return outcome;
        operations.push(outcome.request.body);
        trusted &&= outcome.trusted;
      }
      return { status: 'pass', request: { ...request, body: operations }, trusted };
    }
    return this.checkOne(request, operation === undefined ? singleOperation(request) : operation);
  }

  private checkOne(request: HTTPGraphQLRequest, operation: OperationRequest | null): TrustedDocumentsOutcome {
    if (!operation) {
      // Unreadable requests are Apollo Server's to answer, unless nothing unlisted may pass.
      return this.mode === 'enforce'
        ? reject(ErrorCode.PersistedQueryNotInList, 'The request does not name a trusted operation.')
        : { status: 'pass', request, operation, trusted: false };
    }
    const document = operation.documentHash ? this.manifest.get(operation.documentHash) : undefined;
    if (document !== undefined)
      return {
        status: 'pass',
        request: withDocument(request, document),
        operation: { ...operation, query: document, apq: null },
        trusted: true,
      };
    if (this.mode === 'enforce') {
      return operation.query === undefined
        ? reject(ErrorCode.PersistedQueryNotInList, 'No trusted operation has this id.')
        : reject(ErrorCode.QueryNotInSafelist, 'Only trusted operations may run here; send a trusted operation id.');
    }
    if (operation.query !== undefined && operation.documentHash && this.loggedUnlisted.size < this.maxLoggedUnlisted) {
      if (!this.loggedUnlisted.has(operation.documentHash)) {
        this.loggedUnlisted.add(operation.documentHash);
        this.logger.warn(
          { documentHash: operation.documentHash, operationName: operation.operationName },
          'operation is not in the trusted documents',
        );
      }
    }
    return { status: 'pass', request, operation, trusted: false };
  }
}

/**
 * The request with its document text filled in and the id fields removed:
 * `documentId`, which Apollo Server does not know, and the persisted-query
 * hash, since a request carrying both a query and its hash is, to Apollo, a
 * registration, which would write the trusted document to the APQ store on
 * every request.
 */
function withDocument(request: HTTPGraphQLRequest, document: string): HTTPGraphQLRequest {
  if (request.method === 'GET') {
    const search = new URLSearchParams(request.search);
    search.set('query', document);
    search.delete('documentId');
    const extensions = withoutPersistedQuery(parseJsonParam(search.get('extensions')));
    if (extensions) search.set('extensions', JSON.stringify(extensions));
    else search.delete('extensions');
    return { ...request, search: `?${search.toString()}` };
  }
  const { documentId: _documentId, extensions, ...body } = request.body as Record<string, unknown>;
  const kept = withoutPersistedQuery(extensions);
  return { ...request, body: { ...body, ...(kept ? { extensions: kept } : {}), query: document } };
}

/** `extensions` without `persistedQuery`; undefined when nothing else is left. */
function withoutPersistedQuery(extensions: unknown): Record<string, unknown> | undefined {
  if (!isRecord(extensions)) return undefined;
  const { persistedQuery: _persistedQuery, ...rest } = extensions;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function singleOperation(request: HTTPGraphQLRequest): OperationRequest | null {
  const read = readOperationRequest(request);
  return read.status === 'read' ? read.operation : null;
}

function reject(code: ErrorCode, message: string): TrustedDocumentsOutcome {
  return { status: 'reject', response: errorResponse(code, message) };
}

export interface TrustedDocumentsPluginOptions {
  /**
   * What the manifest is for (TrustedDocumentsMode).
   * @default 'off'
   */
  mode?: TrustedDocumentsMode;
  /**
   * The manifest, as GraphQL Code Generator's client preset writes it;
   * required unless `mode` is `off`.
   * @default null
   */
  manifestPath?: string | null;
  /**
   * Distinct unlisted documents logged in `allow` mode before it goes quiet.
   * @default 1000
   */
  maxLoggedUnlisted?: number;
}

/**
 * The safelist, in front of Apollo Server (TrustedDocuments): a manifest
 * hash becomes its document, and when enforcing anything else is refused.
 * Marks the requests whose every operation is trusted, for the cost limit.
 */
export function trustedDocumentsPlugin({
  mode = 'off',
  manifestPath = null,
  maxLoggedUnlisted = 1000,
}: TrustedDocumentsPluginOptions = {}): RouterPlugin {
  let documents: TrustedDocuments | null = null;
  let operations: WarmOperation[] = [];
  const trusted = new WeakSet<RouterRequest>();
  return {
    name: 'trusted documents',
    async setup({ logger }) {
      if (mode === 'off') return;
      if (!manifestPath) throw new Error(`trusted documents in ${mode} mode need a manifest path`);
      const manifest = await loadTrustedDocuments(manifestPath);
      logger.info({ mode, documents: manifest.size, manifest: manifestPath }, 'trusted documents loaded');
      documents = new TrustedDocuments({ mode, manifest, logger, maxLoggedUnlisted });
      operations = operationsOf(manifest);
    },
    // Empty in `off` mode, which reads no manifest; in `allow` mode too they are what clients send most.
    operations: () => operations,
    onOperation(request) {
      if (!documents) return;
      const outcome = documents.check(request.http, request.operation);
      if (outcome.status === 'reject') return outcome.response;
      request.http = outcome.request;
      if (outcome.operation !== undefined) request.operation = outcome.operation;
      if (outcome.trusted) trusted.add(request);
    },
    context: (request) => ({ trusted: trusted.has(request) }),
  };
}
