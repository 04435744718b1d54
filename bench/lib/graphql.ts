/** Single GraphQL requests outside the load: readiness, correctness fetches, APQ registration. */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Operation {
  query: string;
  variables?: Record<string, unknown>;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The body of a normal request: the full query text. */
export function fullBody({ query, variables }: Operation): string {
  return JSON.stringify(variables ? { query, variables } : { query });
}

/** The body of an automatic persisted query request: the hash only, no query text. */
export function persistedBody({ query, variables }: Operation): string {
  return JSON.stringify({
    ...(variables ? { variables } : {}),
    extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } },
  });
}

/** Registers the query under its hash: APQ's second step, sending hash and text together. */
export function registrationBody({ query, variables }: Operation): string {
  return JSON.stringify({
    query,
    ...(variables ? { variables } : {}),
    extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } },
  });
}

export const jsonHeaders = { 'content-type': 'application/json', accept: 'application/json' };

/** `callerHeaders`: the Authorization and whatever else the caller sends (see Callers.headers). */
export async function post(
  url: string,
  body: string,
  callerHeaders: Record<string, string>,
): Promise<{ status: number; json: unknown; bytes: number }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...jsonHeaders, ...callerHeaders },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsable: text.slice(0, 200) };
  }
  return { status: response.status, json, bytes: Buffer.byteLength(text) };
}

/**
 * Waits until the endpoint answers `{ __typename }` with 200, or the
 * process has exited (checked by `alive`), or the timeout passes.
 */
export async function waitForGraphQL(
  url: string,
  callerHeaders: Record<string, string>,
  alive: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('exited during start');
    try {
      const { status, json } = await post(url, JSON.stringify({ query: '{ __typename }' }), callerHeaders);
      if (status === 200) return;
      last = `HTTP ${status}: ${JSON.stringify(json).slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`not ready after ${timeoutMs / 1000} s (${last})`);
}
