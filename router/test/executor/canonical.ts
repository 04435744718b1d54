import type { FormattedExecutionResult } from 'graphql';

/**
 * An error as executors are compared on it: what a client can act on. The
 * rest of an error differs between executors without being wrong: locations
 * point into the subgraph operation the executor happened to write, and
 * extensions other than the code (serviceName, stacktrace, the subgraph's
 * own extensions) are diagnostics.
 */
export interface CanonicalError {
  message: string;
  path: ReadonlyArray<string | number> | null;
  code: string | null;
}

/** A response as a corpus case states it: `data` omitted when the response has none. */
export interface ExpectedResponse {
  data?: unknown;
  errors?: readonly CanonicalError[];
}

/**
 * The canonical JSON of a response, for comparing executors.
 *
 * Data keeps its key order. GraphQL fixes the order of a response's fields
 * (the order the selection set collects them in) and clients see it: a
 * client that renders or hashes the JSON notices an executor that merges
 * entity fields in fetch order. So data is compared as serialized text, not
 * with a deep equality that ignores key order.
 *
 * Errors are sorted. GraphQL gives their order no meaning, and an executor
 * that runs independent fetches in parallel reports their errors in the
 * order the fetches happen to finish, which differs from run to run even for
 * the stock executor.
 */
export function canonicalJson(response: FormattedExecutionResult | ExpectedResponse): string {
  const errors = (response.errors ?? []).map(canonicalError).sort(byPathThenMessage);
  const canonical: { data?: unknown; errors?: CanonicalError[] } = {};
  if ('data' in response && response.data !== undefined) canonical.data = response.data;
  if (errors.length > 0) canonical.errors = errors;
  return JSON.stringify(canonical, null, 2);
}

function canonicalError(error: NonNullable<ExpectedResponse['errors']>[number] | FormattedErrorLike): CanonicalError {
  const code = 'code' in error ? error.code : error.extensions?.code;
  return {
    message: error.message,
    path: error.path ?? null,
    code: typeof code === 'string' ? code : null,
  };
}

interface FormattedErrorLike {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: unknown };
}

function byPathThenMessage(a: CanonicalError, b: CanonicalError): number {
  const pathA = JSON.stringify(a.path);
  const pathB = JSON.stringify(b.path);
  if (pathA !== pathB) return pathA < pathB ? -1 : 1;
  if (a.message !== b.message) return a.message < b.message ? -1 : 1;
  return (a.code ?? '') < (b.code ?? '') ? -1 : (a.code ?? '') > (b.code ?? '') ? 1 : 0;
}
