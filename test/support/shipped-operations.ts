import { seedOrder, seedProduct, seedReviews, seedUser, worldSizes } from '../../seed/world.ts';

/**
 * The variables each operation the shop frontend ships (`operations/`) is
 * run with in tests: real ids from the small seeded world.
 */
export const variablesByOperation: Record<string, Record<string, unknown>> = {
  CatalogPage: { first: 24, filter: { minPrice: 1000 }, orderBy: 'PRICE_ASC' },
  Categories: {},
  Cart: { productIds: [seedProduct(3).id, seedProduct(0).id] },
  ProductPage: { id: seedProduct(0).id },
  ProductReviews: { id: seedProduct(0).id, first: 5 },
  OrderHistory: {},
  PlaceOrder: { items: [{ productId: seedProduct(4).id, quantity: 2 }], idempotencyKey: 'operations-test-checkout' },
  CancelOrder: { id: cancellableOrderOf(seedUser(0).id).id },
  AddReview: { productId: productNotReviewedBy(seedUser(0).id).id, rating: 5, body: 'Does what it says.' },
  UpdateProfile: { name: 'Ada L.' },
};

/** A seeded product the user has not reviewed, so their review of it is accepted. */
function productNotReviewedBy(userId: string) {
  const reviewed = new Set(
    [...seedReviews(worldSizes.small)].filter((review) => review.authorId === userId).map((review) => review.productId),
  );
  for (let index = worldSizes.small.products - 1; index >= 0; index--) {
    if (!reviewed.has(seedProduct(index).id)) return seedProduct(index);
  }
  throw new Error(`user ${userId} reviewed every seeded product`);
}

/** One of the user's seeded orders that can still be cancelled. */
function cancellableOrderOf(userId: string) {
  const world = worldSizes.small;
  for (let index = 0; index < world.orders; index++) {
    const order = seedOrder(index, world);
    if (order.userId === userId && (order.status === 'PENDING' || order.status === 'CONFIRMED')) return order;
  }
  throw new Error(`the seed gives user ${userId} no cancellable order`);
}

/** Operations of the signed-in shopper, run with their token. */
export const signedInOperations = new Set(['OrderHistory', 'PlaceOrder', 'CancelOrder', 'AddReview', 'UpdateProfile']);
