import type { Logger } from '../../../../platform/src/logger.ts';
import type { ResponseStore } from './store.ts';

/** A purge to apply: some tags, or everything. */
export type Purge = { kind: 'tags'; tags: readonly string[] } | { kind: 'all' };

/** What became of a purge: applied, with the entries it removed, or kept to be tried again. */
export type PurgeOutcome = { applied: true; purged: number } | { applied: false };

/** Where the pending purges are counted: the router's metrics. */
export interface PurgeObserver {
  /** A purge could not be applied when asked, and is kept. */
  purgeFailed(): void;
  /** This instance started (true) or stopped (false) holding purges it could not apply. */
  purgesPending(pending: boolean): void;
}

export interface PendingPurgesOptions {
  store: ResponseStore;
  logger: Logger;
  /** Pause between two tries of what is pending. Default: 500 ms. */
  retryIntervalMs?: number;
  /** Tags kept at most; past it, what is pending becomes one purge of everything. Default: 10,000. */
  maxTags?: number;
  /** Default: none. */
  observer?: PurgeObserver | null;
}

/**
 * Tags one try applies at most: a try runs within the store's command
 * timeout, which thousands of tags at once could exceed on every try.
 */
const tagsPerTry = 1_000;

/**
 * Purges the store could not apply when asked, kept and tried again until
 * they are, in the background.
 *
 * A purge that fails is not the same as Redis being down. On a Redis
 * Cluster with one master down, the purge fails while the other masters
 * keep serving hits, and the dead master's entries come back with the
 * replica that takes over: dropped, the purge would let both serve what it
 * was for. So while anything is pending, the instance that failed to purge
 * uses its cache not at all (`active`): no hits, nothing stored. What the
 * other instances serve meanwhile is docs/scaling.md's (Redis Cluster, When
 * a master dies): they never saw the purge.
 *
 * Bounded: past `maxTags` tags, what is pending becomes one purge of
 * everything, which a master's death would call for anyway.
 */
export class PendingPurges {
  private readonly store: ResponseStore;
  private readonly logger: Logger;
  private readonly retryIntervalMs: number;
  private readonly maxTags: number;
  private readonly observer: PurgeObserver | null;
  /** Each pending tag, with the number of the purge that last kept it. */
  private readonly tags = new Map<string, number>();
  /** The number of the last purge of everything kept; null when none is pending. */
  private everything: number | null = null;
  /** Purges kept so far: what a try covered is told apart from what was kept while it ran. */
  private kept = 0;
  private timer: NodeJS.Timeout | null = null;
  private trying = false;
  /** When purges started failing (Date.now()), for the log line that says they work again; null while none is pending. */
  private failingSince: number | null = null;
  private closed = false;

  constructor({ store, logger, retryIntervalMs = 500, maxTags = 10_000, observer = null }: PendingPurgesOptions) {
    this.store = store;
    this.logger = logger;
    this.retryIntervalMs = retryIntervalMs;
    this.maxTags = maxTags;
    this.observer = observer;
  }

  /** Whether some purge is still to be applied: until it is, the cache is not to be used. */
  get active(): boolean {
    return this.everything !== null || this.tags.size > 0;
  }

  /** Applies `purge` now, or keeps it to be tried again when the store fails. */
  async apply(purge: Purge): Promise<PurgeOutcome> {
    try {
      const purged = await (purge.kind === 'all' ? this.store.purgeAll() : this.store.purgeTags(purge.tags));
      return { applied: true, purged };
    } catch (error) {
      this.keep(purge, error);
      return { applied: false };
    }
  }

  /** Stops trying; what is still pending is dropped with the instance. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private keep(purge: Purge, error: unknown): void {
    this.observer?.purgeFailed();
    const number = ++this.kept;
    if (purge.kind === 'all') this.everything = number;
    else for (const tag of purge.tags) this.tags.set(tag, number);
    if (this.tags.size > this.maxTags) {
      this.everything = number;
      this.tags.clear();
    }
    if (this.failingSince === null) {
      this.failingSince = Date.now();
      this.logger.warn(
        { err: error },
        'response cache: a purge failed; it is kept and retried, and this instance serves and stores nothing from the cache until it is applied',
      );
      this.observer?.purgesPending(true);
    }
    this.schedule(this.retryIntervalMs);
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.timer || this.trying) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.trying = true;
      void this.retry().then((progressed) => {
        this.trying = false;
        // More to do after a try that worked (tags past one try's share): at once.
        if (this.active) this.schedule(progressed ? 0 : this.retryIntervalMs);
      });
    }, delayMs);
    // Pending purges are no reason to keep a process alive.
    this.timer.unref();
  }

  /** One try; resolves with whether it applied something. */
  private async retry(): Promise<boolean> {
    const upTo = this.kept;
    try {
      if (this.everything !== null) {
        await this.store.purgeAll();
        if (this.everything <= upTo) this.everything = null;
        // Everything covers the tags kept before it began.
        for (const [tag, number] of this.tags) if (number <= upTo) this.tags.delete(tag);
      } else {
        const tags = [...this.tags.keys()].slice(0, tagsPerTry);
        await this.store.purgeTags(tags);
        // A tag kept again while the try ran is tried again.
        for (const tag of tags) if ((this.tags.get(tag) ?? upTo) <= upTo) this.tags.delete(tag);
      }
    } catch {
      return false; // still failing; the first failure was logged
    }
    if (!this.active && this.failingSince !== null) {
      this.logger.info(
        { failingForMs: Date.now() - this.failingSince },
        'response cache: the purges that had failed are applied; this instance uses the cache again',
      );
      this.failingSince = null;
      this.observer?.purgesPending(false);
    }
    return true;
  }
}
