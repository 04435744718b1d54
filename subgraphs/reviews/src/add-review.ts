import { eq } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { badUserInput, clientError, ErrorCode } from '../../../platform/src/errors.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import { accountIdOf } from '../../../platform/src/subgraph/authorization.ts';
import * as tables from './db/schema.ts';
import { reviewAdded } from './events.ts';

const { productRatings, reviewAuthors, reviews } = tables;

/** Longest review body, in characters once trimmed. */
export const maxReviewBodyLength = 2_000;

export interface AddReviewInput {
  productId: string;
  rating: number;
  body: string;
}

/**
 * Adds the viewer's review of a product and records ReviewAdded in the same
 * transaction; the rating projection follows from that event.
 *
 * This subgraph has no catalog: a product is known when the rating
 * projection has a row for it (the seed writes one per catalog product), so
 * an id without a row is refused as an unknown product.
 *
 * The review is signed with the username from `review_authors`. A viewer
 * that read model does not know is FORBIDDEN, not NOT_FOUND nor CONFLICT:
 * nothing the client named is missing and no review is in the way; this
 * caller may not review until reviews know a username for them, which
 * setting one with `updateProfile` brings about.
 */
export async function addReview(
  db: Database<typeof tables>,
  viewer: Viewer,
  input: AddReviewInput,
): Promise<typeof reviews.$inferSelect> {
  const { productId, rating, body } = validate(input);
  const authorId = accountIdOf(viewer);
  return db.transaction(async (tx) => {
    const [product] = await tx
      .select({ productId: productRatings.productId })
      .from(productRatings)
      .where(eq(productRatings.productId, productId));
    if (!product) throw badUserInput(`No product in the catalog has the id "${productId}".`, 'productId');
    // FOR SHARE: a rename waits until this review is in, then renames it with the others.
    const [author] = await tx.select().from(reviewAuthors).where(eq(reviewAuthors.userId, authorId)).for('share');
    if (!author)
      throw clientError(
        ErrorCode.Forbidden,
        'Reviews are signed with your username, and it has not reached reviews yet. Set one with updateProfile, or try again in a moment.',
      );
    // The unique index decides, so two racing requests cannot both add one.
    const [review] = await tx
      .insert(reviews)
      .values({ productId, authorId, authorUsername: author.username, rating, body })
      .onConflictDoNothing({ target: [reviews.authorId, reviews.productId] })
      .returning();
    if (!review) throw clientError(ErrorCode.Conflict, 'You have already reviewed this product.');
    await reviewAdded.record(tx, review.id, { reviewId: review.id, productId, authorId, rating });
    return review;
  });
}

/** Checks every argument before anything is read or written; the body is kept trimmed. */
function validate(input: AddReviewInput): AddReviewInput {
  const productId = parseIdArgument(input.productId, 'productId');
  if (!Number.isInteger(input.rating) || input.rating < 1 || input.rating > 5)
    throw badUserInput(`\`rating\` must be a whole number from 1 to 5, got ${input.rating}.`, 'rating');
  const body = input.body.trim();
  if (body.length === 0) throw badUserInput('`body` must not be empty.', 'body');
  // Characters as people count them (code points), not UTF-16 units.
  const length = [...body].length;
  if (length > maxReviewBodyLength)
    throw badUserInput(`\`body\` holds at most ${maxReviewBodyLength} characters, got ${length}.`, 'body');
  return { productId, rating: input.rating, body };
}
