import { HeaderMap } from '@apollo/server';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../platform/src/errors.ts';
import { createLogger } from '../../platform/src/logger.ts';
import { until } from '../../test/support/until.ts';
import { MemoryResponseStore, ResponseCache, type PurgeObserver } from '../src/plugins/response-cache/index.ts';
import { PendingPurges } from '../src/plugins/response-cache/pending-purges.ts';
import { purgeEndpoint } from '../src/plugins/response-cache/purge-endpoint.ts';

/**
 * A purge the store cannot apply (Redis down, or on a cluster one master
 * down while the others serve) is kept and retried, and until it is applied
 * the instance that failed serves and stores nothing: were it dropped, the
 * live masters would go on serving what it was for, and the dead master's
 * entries would come back with its replica.
 */

/** A memory store whose purges fail while `failing` is set, as Redis's do while it is unreachable. */
class FlakyStore extends MemoryResponseStore {
  failing = false;
  readonly attempts: Array<'all' | readonly string[]> = [];

  constructor() {
    super(undefined, { refillDelayMs: 0 });
  }

  override async purgeTags(tags: readonly string[]) {
    this.attempts.push(tags);
    if (this.failing) throw new Error('redis cluster: a master is not reachable');
    return super.purgeTags(tags);
  }

  override async purgeAll() {
    this.attempts.push('all');
    if (this.failing) throw new Error('redis cluster: a master is not reachable');
    return super.purgeAll();
  }
}

function recordingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger({
    service: 'test',
    level: 'debug',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

function recordingObserver() {
  const seen = { failed: 0, pending: [] as boolean[] };
  const observer: PurgeObserver = {
    purgeFailed: () => void seen.failed++,
    purgesPending: (pending) => void seen.pending.push(pending),
  };
  return { observer, seen };
}

const context = { graphId: 'v1', accept: '', viewer: null };
const operation = (variablesJson: string) => ({
  query: 'query ($id: ID!) { product(id: $id) { id } }',
  documentHash: 'product',
  apq: null,
  operationName: undefined,
  variablesJson,
  passesCsrfPrevention: true,
});

/** Looks `variablesJson` up and, on a miss, stores a response tagged `Product:<id>`; resolves with whether it hit. */
async function request(cache: ResponseCache, id: string): Promise<boolean> {
  const { request: state, hit } = await cache.lookup(operation(JSON.stringify({ id })), context);
  if (hit) return true;
  state.storable = { maxAgeSeconds: 60, scope: 'PUBLIC', tags: [`Product:${id}`] };
  await cache.save(state, {
    status: 200,
    headers: new HeaderMap([['content-type', 'application/json']]),
    body: { kind: 'complete', string: JSON.stringify({ data: { product: { id } } }) },
  });
  return false;
}

describe('a purge the store cannot apply', () => {
  it('is kept and retried until applied; meanwhile the instance serves and stores nothing, and it says so once each way', async () => {
    const store = new FlakyStore();
    const { logger, lines } = recordingLogger();
    const { observer, seen } = recordingObserver();
    const cache = new ResponseCache({ store, logger, purgeRetryIntervalMs: 20, purgeObserver: observer });
    try {
      expect(await request(cache, '1')).toBe(false);
      expect(await request(cache, '1')).toBe(true);
      expect(await request(cache, '2')).toBe(false);

      store.failing = true;
      expect(await cache.purge({ entities: [{ type: 'Product', id: '1' }] })).toEqual({ applied: false });
      expect(await cache.purge({ types: ['Review'] })).toEqual({ applied: false });
      expect(cache.purgePending).toBe(true);
      // Product 2 was not purged, but a purge pending may be for anything the store holds.
      expect(await request(cache, '2')).toBe(false);
      expect(await request(cache, '3')).toBe(false);
      // Retried meanwhile, and failing still.
      await until(() => store.attempts.length >= 5, { what: 'the pending purges retried' });
      expect(cache.purgePending).toBe(true);
      expect(store.get(JSON.stringify({ id: '3' }))).toBeUndefined();

      store.failing = false;
      await until(() => !cache.purgePending, { what: 'the pending purges applied' });
      // What was pending, applied: product 1 is gone, product 2 (never purged) is served again.
      expect(await request(cache, '1')).toBe(false);
      expect(await request(cache, '2')).toBe(true);
      expect(store.attempts.at(-1)).toEqual(expect.arrayContaining(['Product:1', 'Review']));

      expect(lines.filter((line) => /a purge failed/.test(line.msg))).toHaveLength(1);
      expect(lines.filter((line) => /purges that had failed are applied/.test(line.msg))).toHaveLength(1);
      expect(seen).toEqual({ failed: 2, pending: [true, false] });
    } finally {
      cache.close();
    }
  });

  it('collapses past 10,000 pending tags into one purge of everything', async () => {
    const store = new FlakyStore();
    const { logger } = recordingLogger();
    const pending = new PendingPurges({ store, logger, retryIntervalMs: 20 });
    try {
      store.failing = true;
      const many = Array.from({ length: 10_001 }, (_, index) => `Product:${index}`);
      expect(await pending.apply({ kind: 'tags', tags: many })).toEqual({ applied: false });
      store.failing = false;
      await until(() => !pending.active, { what: 'the pending purge applied' });
      expect(store.attempts.slice(1)).toEqual(['all']);
    } finally {
      pending.close();
    }
  });

  it('keeps a tag pending when it is purged again while a retry of it runs', async () => {
    const store = new FlakyStore();
    const { logger } = recordingLogger();
    const pending = new PendingPurges({ store, logger, retryIntervalMs: 20 });
    try {
      store.failing = true;
      await pending.apply({ kind: 'tags', tags: ['Product:1'] });
      // The retry works, but while it runs a later purge of the same tag (a later change) fails.
      const original = store.purgeTags.bind(store);
      let raced = false;
      store.purgeTags = async (tags) => {
        if (!raced) {
          raced = true;
          store.failing = false;
          const result = await original(tags);
          store.failing = true;
          await pending.apply({ kind: 'tags', tags: ['Product:1'] });
          store.failing = false;
          return result;
        }
        return original(tags);
      };
      await until(() => !pending.active, { what: 'the later purge applied too' });
      expect(store.attempts.filter((tags) => tags !== 'all').length).toBeGreaterThanOrEqual(4);
    } finally {
      pending.close();
    }
  });
});

describe('POST /cache/purge', () => {
  const token = 'purge-token';
  const call = (handler: ReturnType<typeof purgeEndpoint>, body: unknown) =>
    handler({ method: 'POST', headers: { authorization: `Bearer ${token}` }, body });

  it('answers 503 CACHE_PURGE_PENDING when the purge could not be applied now, saying it is retried', async () => {
    const store = new FlakyStore();
    const { logger } = recordingLogger();
    const cache = new ResponseCache({ store, logger, purgeRetryIntervalMs: 20 });
    try {
      const handler = purgeEndpoint(cache, token, logger);
      expect(await call(handler, { types: ['Product'] })).toEqual({ status: 200, payload: { purged: 0 } });
      store.failing = true;
      const refused = await call(handler, { all: true });
      expect(refused.status).toBe(503);
      expect(refused.payload).toEqual({
        errors: [{ message: expect.stringMatching(/retries it/), extensions: { code: ErrorCode.CachePurgePending } }],
      });
      store.failing = false;
      await until(() => !cache.purgePending, { what: 'the pending purge applied' });
    } finally {
      cache.close();
    }
  });
});
