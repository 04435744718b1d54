import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { and, count, eq, sql } from 'drizzle-orm';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Database } from '../platform/src/db/database.ts';
import { consumersOf, createEventBus, newEvent, type EventBus } from '../platform/src/events/index.ts';
import { withStreamPrefix } from '../platform/src/events/stream-prefix.ts';
import { seedProduct, seedReviews, seedUser, worldSizes } from '../seed/world.ts';
import * as accountTables from '../subgraphs/accounts/src/db/schema.ts';
import * as reviewTables from '../subgraphs/reviews/src/db/schema.ts';
import { reviewsEvents } from '../subgraphs/reviews/src/consumers.ts';
import { startShopGraph, testLogger, type ShopGraph } from './support/shop-graph.ts';
import { signTestToken, testJwtSecret } from './support/tokens.ts';
import { until } from './support/until.ts';

/**
 * Reviews and profiles through the router, on real Postgres, once on the
 * in-process bus and once on real Redis Streams: addReview and
 * updateProfile validate before they write, a review is one per author and
 * product, the rating projection folds each ReviewAdded once and converges
 * however many reviews race, renames reach the usernames kept on reviews
 * (never overwritten by an older change), and the router's cached pages
 * follow both.
 */

const redisUrl = inject('redisUrl');
const world = worldSizes.small;
const seededReviews = [...seedReviews(world)];

const addReview = /* GraphQL */ `
  mutation ($input: AddReviewInput!) {
    addReview(input: $input) {
      review {
        id
        rating
        body
        author {
          id
          username
        }
      }
    }
  }
`;
const updateProfile = /* GraphQL */ `
  mutation ($input: UpdateProfileInput!) {
    updateProfile(input: $input) {
      user {
        id
        name
        username
      }
    }
  }
`;
const productRating = `query ($id: ID!) { product(id: $id) { id averageRating reviewCount reviews { totalCount } } }`;
const reviewAuthor = `query ($id: ID!) { review(id: $id) { id author { id username } } }`;

const codeOf = (response: { body: { errors?: any[] } }) => response.body.errors?.[0]?.extensions?.code;
const argumentOf = (response: { body: { errors?: any[] } }) => response.body.errors?.[0]?.extensions?.argumentName;
/** Seed users who have not reviewed `productId`, so their first review of it is accepted. */
const nonReviewersOf = (productId: string) =>
  Array.from({ length: world.users }, (_, index) => index).filter(
    (index) =>
      !seededReviews.some((review) => review.productId === productId && review.authorId === seedUser(index).id),
  );

describe.each(['memory', 'redis streams'] as const)('reviews on the %s bus', (kind) => {
  let graph: ShopGraph;
  let bus: EventBus;
  let redis: ReturnType<typeof createClient> | null = null;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    if (kind === 'redis streams') {
      // Needs a real Redis: without redis-server this half fails rather than skips.
      if (!redisUrl) throw new Error('needs redis-server on PATH (.ci/run installs it)');
      redis = createClient({ url: redisUrl });
      await redis.connect();
    }
    // Its own streams: other test files share this Redis.
    bus = withStreamPrefix(createEventBus({ redis, logger: testLogger('bus') }), `test-${randomUUID()}`);
    // The router purges its cache from the same bus the subgraphs publish on.
    graph = await startShopGraph(`reviews_${kind === 'memory' ? 'memory' : 'redis'}`, { eventBus: bus }, { bus });
  });

  afterAll(async () => {
    await graph?.stop();
    await bus?.close();
    await redis?.quit();
  });

  const reviewsDb = () => graph.subgraphs.reviews.database.db as unknown as Database<typeof reviewTables>;
  const accountsDb = () => graph.subgraphs.accounts.database.db as unknown as Database<typeof accountTables>;

  async function as(userId: string) {
    if (!tokens.has(userId)) tokens.set(userId, await signTestToken(testJwtSecret, userId));
    return { authorization: `Bearer ${tokens.get(userId)}` };
  }
  const add = async (userId: string | null, input: Record<string, unknown>) =>
    graph.query<any>(addReview, { input }, userId ? await as(userId) : {});
  const update = async (userId: string | null, input: Record<string, unknown>) =>
    graph.query<any>(updateProfile, { input }, userId ? await as(userId) : {});

  /** What addReview writes: review rows, and ReviewAdded in the outbox (the projection writes other events). */
  const reviewWrites = async () => ({
    reviews: (await reviewsDb().select({ n: count() }).from(reviewTables.reviews))[0]!.n,
    events: (
      await reviewsDb()
        .select({ n: count() })
        .from(reviewTables.outbox)
        .where(eq(reviewTables.outbox.type, 'ReviewAdded'))
    )[0]!.n,
  });
  const profileWrites = async () => (await accountsDb().select({ n: count() }).from(accountTables.outbox))[0]!.n;
  const ratingOf = async (productId: string) =>
    (
      await reviewsDb()
        .select()
        .from(reviewTables.productRatings)
        .where(eq(reviewTables.productRatings.productId, productId))
    )[0];
  const handlerFor = (stream: string) =>
    consumersOf(reviewsEvents.consumes!).find((consumer) => consumer.stream === stream)!;

  describe('addReview', () => {
    it('refuses each bad argument with BAD_USER_INPUT naming it, and writes nothing', async () => {
      const product = seedProduct(40);
      const author = seedUser(nonReviewersOf(product.id)[0]!).id;
      const valid = { productId: product.id, rating: 4, body: 'Sturdy and well made.' };
      const before = await reviewWrites();
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ ...valid, productId: 'not-an-id' }, 'productId'],
        [{ ...valid, productId: randomUUID() }, 'productId'],
        [{ ...valid, rating: 0 }, 'rating'],
        [{ ...valid, rating: 6 }, 'rating'],
        [{ ...valid, body: '' }, 'body'],
        [{ ...valid, body: ' \n\t ' }, 'body'],
        [{ ...valid, body: 'x'.repeat(2_001) }, 'body'],
      ];
      for (const [input, argument] of cases) {
        const response = await add(author, input);
        expect(response.body.data).toBeNull();
        expect({ input, code: codeOf(response), argument: argumentOf(response) }).toEqual({
          input,
          code: 'BAD_USER_INPUT',
          argument,
        });
      }
      expect(await reviewWrites()).toEqual(before);
    });

    it('needs a signed-in shopper: UNAUTHENTICATED otherwise, and nothing written', async () => {
      const before = await reviewWrites();
      const response = await add(null, { productId: seedProduct(41).id, rating: 5, body: 'Lovely.' });
      expect(response.body.data).toBeNull();
      expect(codeOf(response)).toBe('UNAUTHENTICATED');
      expect(await reviewWrites()).toEqual(before);
    });

    it('refuses an author whose username reviews do not know yet with FORBIDDEN', async () => {
      const before = await reviewWrites();
      const response = await add(randomUUID(), { productId: seedProduct(41).id, rating: 5, body: 'Lovely.' });
      expect(codeOf(response)).toBe('FORBIDDEN');
      expect(await reviewWrites()).toEqual(before);
    });

    it("adds a review signed with the author's username, records ReviewAdded, and a second one is CONFLICT", async () => {
      const product = seedProduct(42);
      const user = seedUser(nonReviewersOf(product.id)[0]!);
      const before = await reviewWrites();
      const body = `  ${'A'.repeat(2_000)}  `;
      const added = await add(user.id, { productId: product.id, rating: 3, body });
      expect(added.body.errors).toBeUndefined();
      expect(added.body.data.addReview.review).toMatchObject({
        rating: 3,
        body: body.trim(),
        author: { id: user.id, username: user.username },
      });
      expect(await reviewWrites()).toEqual({ reviews: before.reviews + 1, events: before.events + 1 });

      const again = await add(user.id, { productId: product.id, rating: 1, body: 'Changed my mind.' });
      expect(codeOf(again)).toBe('CONFLICT');
      expect(await reviewWrites()).toEqual({ reviews: before.reviews + 1, events: before.events + 1 });
    });

    it('adds one review when the same author sends two at once', async () => {
      const product = seedProduct(43);
      const user = seedUser(nonReviewersOf(product.id)[0]!);
      const before = await reviewWrites();
      const responses = await Promise.all(
        [4, 2].map((rating) => add(user.id, { productId: product.id, rating, body: 'Sent twice.' })),
      );
      expect(responses.map(codeOf).sort()).toEqual(['CONFLICT', undefined]);
      expect(await reviewWrites()).toEqual({ reviews: before.reviews + 1, events: before.events + 1 });
    });
  });

  describe('the rating projection', () => {
    it('converges to the exact count and mean when many review one product at once, and the cached page follows', async () => {
      const product = seedProduct(110);
      const authors = nonReviewersOf(product.id).slice(0, 10);
      expect(authors).toHaveLength(10);
      const start = (await ratingOf(product.id))!;
      expect(start).toBeDefined();

      // Cache the product page before the reviews arrive.
      expect((await graph.query<any>(productRating, { id: product.id })).headers.get('x-cache')).toBe('MISS');
      const cached = await graph.query<any>(productRating, { id: product.id });
      expect(cached.headers.get('x-cache')).toBe('HIT');
      expect(cached.body.data.product.reviewCount).toBe(start.reviewCount);

      const ratings = authors.map((_, index) => (index % 5) + 1);
      const responses = await Promise.all(
        authors.map(async (index, position) => {
          const response = await graph.query<any>(
            // Asks for the review alone, so the mutation purges no product: only the events can.
            `mutation ($input: AddReviewInput!) { addReview(input: $input) { review { id } } }`,
            { input: { productId: product.id, rating: ratings[position], body: `Review by user ${index}.` } },
            await as(seedUser(index).id),
          );
          return response.body.errors;
        }),
      );
      expect(responses.every((errors) => errors === undefined)).toBe(true);

      const reviewCount = start.reviewCount + authors.length;
      const ratingSum = start.ratingSum + ratings.reduce((sum, rating) => sum + rating, 0);
      await until(async () => (await ratingOf(product.id))?.reviewCount === reviewCount, {
        timeoutMs: 15_000,
        what: 'the projection counting every review',
      });
      expect(await ratingOf(product.id)).toMatchObject({ reviewCount, ratingSum });
      // The projection agrees with the reviews themselves.
      const [live] = await reviewsDb()
        .select({ n: count(), sum: sql<number>`sum(${reviewTables.reviews.rating})::int` })
        .from(reviewTables.reviews)
        .where(eq(reviewTables.reviews.productId, product.id));
      expect(live).toEqual({ n: reviewCount, sum: ratingSum });

      const expected = {
        id: product.id,
        reviewCount,
        averageRating: Math.round((ratingSum / reviewCount) * 100) / 100,
        reviews: { totalCount: reviewCount },
      };
      // Well within the cached page's lifetime: only a purge explains the fresh answer.
      await until(
        async () =>
          isDeepStrictEqual((await graph.query<any>(productRating, { id: product.id })).body.data?.product, expected),
        { timeoutMs: 15_000, what: 'the cached product page showing the new rating' },
      );
    });

    it('applies a redelivered ReviewAdded once', async () => {
      const productId = seedProduct(111).id;
      const start = (await ratingOf(productId))!;
      const announced = async () =>
        (
          await reviewsDb()
            .select({ n: count() })
            .from(reviewTables.outbox)
            .where(
              and(eq(reviewTables.outbox.type, 'ProductRatingChanged'), eq(reviewTables.outbox.aggregateId, productId)),
            )
        )[0]!.n;
      const announcedBefore = await announced();
      const event = newEvent('ReviewAdded', randomUUID(), {
        reviewId: randomUUID(),
        productId,
        authorId: randomUUID(),
        rating: 4,
      });
      const { handle } = handlerFor('reviews');
      // Twice at once (two consumers got it) and once more later (a redelivery after a lost ack).
      await Promise.all([handle(event, reviewsDb()), handle(event, reviewsDb())]);
      await handle(event, reviewsDb());
      expect(await ratingOf(productId)).toMatchObject({
        reviewCount: start.reviewCount + 1,
        ratingSum: start.ratingSum + 4,
      });
      expect(await announced()).toBe(announcedBefore + 1);
    });
  });

  describe('updateProfile', () => {
    // A seed user with reviews, whose rename the reviews must follow; no other test here acts as them.
    const renamedIndex = 20;
    const renamed = seedUser(renamedIndex);
    const theirReviews = () =>
      reviewsDb().select().from(reviewTables.reviews).where(eq(reviewTables.reviews.authorId, renamed.id));
    const authorRow = async (userId: string) =>
      (
        await reviewsDb().select().from(reviewTables.reviewAuthors).where(eq(reviewTables.reviewAuthors.userId, userId))
      )[0];

    it('refuses bad input with BAD_USER_INPUT naming it, and writes nothing', async () => {
      const before = await profileWrites();
      const cases: Array<[Record<string, unknown>, string]> = [
        [{}, 'input'],
        [{ name: null, username: null }, 'input'],
        [{ username: 'ab' }, 'username'],
        [{ username: 'a'.repeat(31) }, 'username'],
        [{ username: 'Has_Capitals' }, 'username'],
        [{ username: '.dotted' }, 'username'],
        [{ username: 'dotted.' }, 'username'],
        [{ username: 'dotted..name' }, 'username'],
        [{ name: '   ' }, 'name'],
        [{ name: 'n'.repeat(101) }, 'name'],
      ];
      for (const [input, argument] of cases) {
        const response = await update(renamed.id, input);
        expect({ input, code: codeOf(response), argument: argumentOf(response) }).toEqual({
          input,
          code: 'BAD_USER_INPUT',
          argument,
        });
      }
      expect(codeOf(await update(null, { name: 'Nobody' }))).toBe('UNAUTHENTICATED');
      // A handle as the seed world has them (`ada.lovelace0`) is valid: sending it unchanged changes nothing.
      expect(renamed.username).toContain('.');
      expect(codeOf(await update(renamed.id, { username: renamed.username }))).toBeUndefined();
      expect(await profileWrites()).toBe(before);
    });

    it('renames: the new username reaches review_authors, the kept reviews and the cached review page', async () => {
      const reviews = await theirReviews();
      expect(reviews.length).toBeGreaterThan(0);
      const review = reviews[0]!;
      // Cached with the old username first: once the refill delay after the earlier tests' purges is over.
      let cached = await graph.query<any>(reviewAuthor, { id: review.id });
      await until(
        async () => {
          cached = await graph.query<any>(reviewAuthor, { id: review.id });
          return cached.headers.get('x-cache') === 'HIT';
        },
        { timeoutMs: 15_000, what: 'the review page cached' },
      );
      expect(cached.body.data.review.author.username).toBe(renamed.username);

      const username = `renamed_${randomUUID().slice(0, 8)}`;
      const response = await update(renamed.id, { username, name: '  Ada Renamed ' });
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data.updateProfile.user).toEqual({ id: renamed.id, name: 'Ada Renamed', username });

      await until(async () => (await authorRow(renamed.id))?.username === username, {
        timeoutMs: 15_000,
        what: 'review_authors renamed',
      });
      await until(async () => (await theirReviews()).every((row) => row.authorUsername === username), {
        timeoutMs: 15_000,
        what: "the username kept on the author's reviews",
      });
      await until(
        async () =>
          (await graph.query<any>(reviewAuthor, { id: review.id })).body.data?.review.author.username === username,
        { timeoutMs: 15_000, what: 'the cached review page showing the new username' },
      );
      // A review added now is signed with the new name.
      const product = Array.from({ length: world.products - 60 }, (_, index) => seedProduct(60 + index)).find(
        (candidate) => nonReviewersOf(candidate.id).includes(renamedIndex),
      )!;
      const added = await add(renamed.id, { productId: product.id, rating: 5, body: 'Signed with my new name.' });
      expect(added.body.data.addReview.review.author.username).toBe(username);
    });

    it('never lets an older change overwrite a newer one', async () => {
      const current = (await authorRow(renamed.id))!;
      const { handle } = handlerFor('accounts');
      const stale = newEvent('UserProfileChanged', renamed.id, {
        userId: renamed.id,
        username: 'stale_username',
        name: 'Stale',
        changedAt: new Date(current.changedAt.getTime() - 60_000).toISOString(),
      });
      await handle(stale, reviewsDb());
      expect(await authorRow(renamed.id)).toEqual(current);
      expect((await theirReviews()).every((row) => row.authorUsername === current.username)).toBe(true);

      // A newer change still applies; this one changes the name alone and keeps the username.
      const response = await update(renamed.id, { name: 'Ada Again' });
      expect(response.body.data.updateProfile.user).toMatchObject({ name: 'Ada Again', username: current.username });
      await until(async () => (await authorRow(renamed.id))!.changedAt > current.changedAt, {
        timeoutMs: 15_000,
        what: 'the name-only change applied',
      });
      expect((await authorRow(renamed.id))!.username).toBe(current.username);
    });

    it('refuses a username someone else has with CONFLICT, even when two claim it at once', async () => {
      const [first, second, third] = [seedUser(7), seedUser(8), seedUser(9)];
      const username = `taken_${randomUUID().slice(0, 8)}`;
      expect((await update(first.id, { username })).body.errors).toBeUndefined();
      const before = await profileWrites();
      const taken = await update(second.id, { username });
      expect(codeOf(taken)).toBe('CONFLICT');
      expect(await profileWrites()).toBe(before);

      const contested = `contested_${randomUUID().slice(0, 8)}`;
      const racing = await Promise.all([second, third].map((user) => update(user.id, { username: contested })));
      expect(racing.map(codeOf).sort()).toEqual(['CONFLICT', undefined]);
      expect(await profileWrites()).toBe(before + 1);
    });

    it('purges the cached review page once the reviews carry a new username, not only when accounts announce it', async () => {
      // A user nothing else here touches, so no other event can purge their pages meanwhile.
      const quiet = seedUser(30);
      const [review] = await reviewsDb()
        .select()
        .from(reviewTables.reviews)
        .where(eq(reviewTables.reviews.authorId, quiet.id));
      expect(review).toBeDefined();
      await graph.query<any>(reviewAuthor, { id: review!.id });
      expect((await graph.query<any>(reviewAuthor, { id: review!.id })).headers.get('x-cache')).toBe('HIT');
      // Handed to reviews alone: the router never sees this UserProfileChanged, only what reviews
      // announce after applying it.
      const username = `direct_${randomUUID().slice(0, 8)}`;
      const { handle } = handlerFor('accounts');
      await handle(
        newEvent('UserProfileChanged', quiet.id, {
          userId: quiet.id,
          username,
          name: quiet.name,
          changedAt: new Date().toISOString(),
        }),
        reviewsDb(),
      );
      const kept = await reviewsDb()
        .select({ username: reviewTables.reviews.authorUsername })
        .from(reviewTables.reviews)
        .where(eq(reviewTables.reviews.authorId, quiet.id));
      expect(kept.every((row) => row.username === username)).toBe(true);
      await until(
        async () =>
          (await graph.query<any>(reviewAuthor, { id: review!.id })).body.data?.review.author.username === username,
        { timeoutMs: 15_000, what: 'the cached review page purged by ReviewAuthorRenamed' },
      );
    });
  });
});
