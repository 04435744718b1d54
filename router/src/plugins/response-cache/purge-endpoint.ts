import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, statusOf } from '../../../../platform/src/errors.ts';
import type { JsonRouteHandler } from '../../../../platform/src/http/server.ts';
import type { Logger } from '../../../../platform/src/logger.ts';
import type { ResponseCache } from './index.ts';

const name = z.string().min(1).max(200);

const purgeBody = z
  .object({
    types: z.array(name).max(1000).optional(),
    entities: z
      .array(z.object({ type: name, id: z.union([name, z.number().int()]).transform(String) }).strict())
      .max(10_000)
      .optional(),
    all: z.literal(true).optional(),
  })
  .strict()
  .refine((body) => body.all || (body.types?.length ?? 0) + (body.entities?.length ?? 0) > 0, {
    message: 'name something to purge: "types", "entities", or "all": true',
  });

/**
 * `POST /cache/purge` with `Authorization: Bearer <purge token>` and a body of
 * `{ "types": ["Product"] }`, `{ "entities": [{ "type": "Product", "id": "…" }] }`
 * or `{ "all": true }`. Answers `{ "purged": <entries removed> }`; or 503,
 * CACHE_PURGE_PENDING, when the cache's Redis (or a master of its cluster)
 * could not apply it now: this router keeps the purge and retries it, and
 * serves nothing from its cache until it is applied (pending-purges.ts).
 */
export function purgeEndpoint(cache: ResponseCache, token: string, logger: Logger): JsonRouteHandler {
  const expected = createHash('sha256').update(token).digest();
  return async ({ method, headers, body }) => {
    if (method !== 'POST') return failure(ErrorCode.MethodNotAllowed, 'Use POST.');
    const presented = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1] ?? '';
    // Compare digests, so the comparison takes the same time whatever was presented.
    if (!timingSafeEqual(createHash('sha256').update(presented).digest(), expected))
      return failure(ErrorCode.Unauthenticated, 'A valid purge token is required.');
    const parsed = purgeBody.safeParse(body);
    if (!parsed.success)
      return failure(ErrorCode.BadRequest, parsed.error.issues.map((issue) => issue.message).join('; '));
    const outcome = await cache.purge(parsed.data);
    if (!outcome.applied) {
      logger.warn({ purge: parsed.data }, 'response cache purge could not be applied now; kept and retried');
      return failure(
        ErrorCode.CachePurgePending,
        'The purge could not be applied now: the cache’s Redis (or a master of its cluster) is unreachable. ' +
          'This router keeps it and retries it every 500 ms, and serves nothing from its cache until it is applied.',
      );
    }
    logger.info({ purge: parsed.data, purged: outcome.purged }, 'response cache purged');
    return { status: 200, payload: { purged: outcome.purged } };
  };
}

function failure(code: ErrorCode, message: string) {
  return { status: statusOf(code), payload: { errors: [{ message, extensions: { code } }] } };
}
