/**
 * Who a workload's requests come from, and the headers they carry.
 *
 * Most answers are the same for everyone, so each token is for a caller of
 * its own and the request carries nothing else. A workload whose answer is
 * the caller's own data (shop-orders: `viewer { orders }`) needs real
 * callers: its tokens are for the seeded shop users, in turn, and each
 * request also carries that user's identity as the shop subgraphs accept it
 * (`x-verified-identity`, signed with their INTERNAL_IDENTITY_SECRET).
 *
 * That header is for Apollo Gateway and Hive Gateway, which pass it on to
 * the subgraphs. Deployed in front of these subgraphs, they would need
 * something to sign it (a plugin, or a proxy that verifies the client's
 * token first); here the load generator does it for them, once per user and
 * outside the measurement. Our router ignores the header (a subgraph only
 * gets headers the router builds itself) and signs its own from the token
 * it verifies, so its figures include that work and theirs do not.
 */
import { createIdentitySigner, identityHeader } from '../../platform/src/identity.ts';
import type { Caller, TokenPool } from './tokens.ts';

export interface SeededUsers {
  /** Ids of seeded users, the one with the most orders first. */
  userIds: readonly string[];
  /** What the shop subgraphs verify a forwarded identity with (INTERNAL_IDENTITY_SECRET). */
  identitySecret: string;
}

/** An identity lives 120 s (platform/src/identity.ts); re-signed at this age, each has at least 90 s left. */
const resignAfterMs = 30_000;

export class Callers {
  private warmup: Promise<Caller[]> | null = null;
  private identities = new Map<string, string>();
  private signedAt = -Infinity;
  private signing: Promise<void> | null = null;
  private readonly narrowed = new Map<number, Callers>();

  /** `users` null: a caller of its own for every token, and no identity. */
  constructor(
    private readonly tokens: TokenPool,
    private readonly users: SeededUsers | null,
  ) {}

  /**
   * The same callers narrowed to the first `count` users (all of them
   * without users). Kept, like every Callers, so its warm-up tokens are
   * minted once for the whole run.
   */
  narrowedTo(count: number): Callers {
    if (!this.users || count >= this.users.userIds.length) return this;
    let narrowed = this.narrowed.get(count);
    if (!narrowed)
      this.narrowed.set(
        count,
        (narrowed = new Callers(this.tokens, { ...this.users, userIds: this.users.userIds.slice(0, count) })),
      );
    return narrowed;
  }

  /** Fresh callers for measured requests. */
  take(count: number): Promise<Caller[]> {
    return this.tokens.take(count, this.users?.userIds);
  }

  /** Fresh callers whose answers must be equal: with seeded users, all are the first one. */
  takeOneUser(count: number): Promise<Caller[]> {
    return this.tokens.take(count, this.users?.userIds.slice(0, 1));
  }

  /** Warm-up requests are never measured, so one set is minted once and reused by every warm-up. */
  warmupCallers(): Promise<Caller[]> {
    return (this.warmup ??= this.take(2_000));
  }

  /** The caller-specific headers of one request; call inside `withIdentities`. */
  headers(caller: Caller): Record<string, string> {
    const identity = this.identities.get(caller.subject);
    return identity
      ? { authorization: caller.authorization, [identityHeader]: identity }
      : { authorization: caller.authorization };
  }

  /**
   * Runs `work` with identities that stay valid throughout: signed before
   * it starts when the current ones are older than 30 s, and again every
   * 30 s while it runs (only runs longer than that ever re-sign mid-way).
   */
  async withIdentities<T>(work: () => Promise<T>): Promise<T> {
    if (!this.users) return work();
    await this.refresh();
    const timer = setInterval(
      () =>
        void this.refresh().catch((error: unknown) =>
          process.stderr.write(`could not re-sign caller identities: ${(error as Error).message}\n`),
        ),
      resignAfterMs,
    );
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  private refresh(): Promise<void> {
    if (performance.now() - this.signedAt < resignAfterMs) return Promise.resolve();
    this.signing ??= this.signAll().finally(() => {
      this.signing = null;
    });
    return this.signing;
  }

  private async signAll(): Promise<void> {
    const { userIds, identitySecret } = this.users!;
    // A new signer every time: a kept one would hand back the older tokens it caches.
    const signer = await createIdentitySigner(identitySecret);
    const signed = await Promise.all(userIds.map(async (id) => [id, await signer.sign({ id, scopes: [] })] as const));
    this.identities = new Map(signed);
    this.signedAt = performance.now();
  }
}
