import { createHash } from 'node:crypto';

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Sends an automatic-persisted-query request: the hash, and the query text only when registering it. */
export async function postPersisted(
  url: string,
  {
    hash,
    query,
    variables,
    headers = {},
  }: { hash: string; query?: string; variables?: Record<string, unknown>; headers?: Record<string, string> },
) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as { data?: any; errors?: any[] },
  };
}
