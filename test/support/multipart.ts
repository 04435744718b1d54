/**
 * Reads a `multipart/mixed` GraphQL response (boundary `-`, as the router
 * writes `@defer` answers) part by part as it arrives, each part's JSON
 * parsed: a test can act between two parts.
 */
export async function* multipartPayloads(response: Response): AsyncGenerator<Record<string, unknown>> {
  const contentType = response.headers.get('content-type') ?? '';
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!contentType.startsWith('multipart/mixed') || !boundary)
    throw new Error(`not a multipart response: ${contentType} ${await response.text()}`);
  const delimiter = `\r\n--${boundary}`;
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (value) buffered += decoder.decode(value, { stream: true });
    // Each complete part lies between two delimiters; the text before the first is the preamble.
    for (;;) {
      const start = buffered.indexOf(delimiter);
      if (start === -1) break;
      const end = buffered.indexOf(delimiter, start + delimiter.length);
      if (end === -1) break;
      const part = buffered.slice(start + delimiter.length, end);
      buffered = buffered.slice(end);
      const bodyAt = part.indexOf('\r\n\r\n');
      if (bodyAt !== -1) yield JSON.parse(part.slice(bodyAt + 4)) as Record<string, unknown>;
    }
    if (done) return;
  }
}

type Json = Record<string, unknown>;

/**
 * The result a client ends with once it has applied every payload of a
 * deferred response, in either format: `deferSpec=20220824` (incremental
 * items carry their path) or `incrementalSpec=v0.2` (items name a pending
 * id, whose path the pending entry gave). Errors are collected in order.
 */
export function applyPayloads(payloads: Json[]): { data: Json | null; errors: Json[] } {
  const [initial, ...rest] = payloads;
  if (!initial) throw new Error('no payloads');
  const data = (initial.data ?? null) as Json | null;
  const errors = [...((initial.errors as Json[] | undefined) ?? [])];
  const pendingPaths = new Map<string, Array<string | number>>();
  const announce = (payload: Json) => {
    for (const pending of (payload.pending as Array<{ id: string; path: Array<string | number> }> | undefined) ?? [])
      pendingPaths.set(pending.id, pending.path);
  };
  announce(initial);
  for (const payload of rest) {
    announce(payload);
    for (const item of (payload.incremental as Json[] | undefined) ?? []) {
      const path = (item.path as Array<string | number> | undefined) ?? [
        ...(pendingPaths.get(item.id as string) ?? []),
        ...((item.subPath as Array<string | number>) ?? []),
      ];
      errors.push(...((item.errors as Json[] | undefined) ?? []));
      let target: unknown = data;
      for (const key of path) target = (target as Record<string | number, unknown> | null)?.[key];
      if (target && typeof target === 'object' && item.data) deepMerge(target as Json, item.data as Json);
    }
    for (const completed of (payload.completed as Json[] | undefined) ?? [])
      errors.push(...((completed.errors as Json[] | undefined) ?? []));
  }
  return { data, errors };
}

function deepMerge(target: Json, source: Json) {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (existing && value && typeof existing === 'object' && typeof value === 'object' && !Array.isArray(value))
      deepMerge(existing as Json, value as Json);
    else if (Array.isArray(existing) && Array.isArray(value))
      value.forEach((element, index) =>
        existing[index] && typeof existing[index] === 'object' && element && typeof element === 'object'
          ? deepMerge(existing[index] as Json, element as Json)
          : (existing[index] = element),
      );
    else target[key] = value;
  }
}
