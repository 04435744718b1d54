import { readFileSync } from 'node:fs';
import type { OperationReport } from '../../platform/src/composition/operations-report.ts';
import { seedOrder, seedProduct, seedReviews, seedUser, worldSizes } from '../../seed/world.ts';

/** Where codegen writes the documents the shop frontend ships, keyed by `sha256:<hash>`. */
export const persistedDocumentsPath = 'operations/__generated__/persisted-documents.json';
/** Where codegen writes what it works out about each shipped operation. */
export const operationsReportPath = 'schema/operations.json';

/** One operation the shop frontend ships, ready to send against a graph seeded with the `small` world. */
export interface ShippedOperation {
  name: string;
  kind: OperationReport['kind'];
  /** Its sha256, as the trusted-documents manifest keys it (without the `sha256:` prefix). */
  hash: string;
  /** The document as shipped: this operation and the fragments it uses. */
  document: string;
  /** Variables that make it succeed on a freshly seeded `small` world. */
  variables: Record<string, unknown>;
  /** Sent as the seeded user `seedUser(0)`, who owns orders and can place, cancel and review. */
  signedIn: boolean;
  /** What codegen's operations report says about it (subgraphs, fetches, cache policy). */
  report: OperationReport;
}

/**
 * Variables per shipped operation, against the `small` seed. Each mutation
 * is chosen to succeed once on a fresh world: a product the user has not
 * reviewed, an order of theirs that can still be cancelled.
 */
const variablesByOperation: Record<string, () => Record<string, unknown>> = {
  CatalogPage: () => ({ first: 24, filter: { minPrice: 1000 }, orderBy: 'PRICE_ASC' }),
  Categories: () => ({}),
  Cart: () => ({ productIds: [seedProduct(3).id, seedProduct(0).id] }),
  ProductPage: () => ({ id: seedProduct(0).id }),
  ProductPageDeferred: () => ({ id: seedProduct(0).id }),
  ProductReviews: () => ({ id: seedProduct(0).id, first: 5 }),
  OrderHistory: () => ({}),
  PlaceOrder: () => ({
    items: [{ productId: seedProduct(4).id, quantity: 2 }],
    idempotencyKey: 'operations-test-checkout',
  }),
  CancelOrder: () => ({ id: cancellableOrderOf(seedUser(0).id).id }),
  AddReview: () => ({ productId: productNotReviewedBy(seedUser(0).id).id, rating: 5, body: 'Does what it says.' }),
  UpdateProfile: () => ({ name: 'Ada L.' }),
};

/** The operations of the signed-in shopper. */
const signedInOperations = new Set(['OrderHistory', 'PlaceOrder', 'CancelOrder', 'AddReview', 'UpdateProfile']);

/**
 * Every operation the frontend ships (the persisted-documents manifest),
 * with its report entry and working variables. Throws if the manifest, the
 * report and the variables here disagree about which operations exist, so a
 * new operation cannot go untested.
 */
export function shippedOperations(): ShippedOperation[] {
  const manifest = JSON.parse(readFileSync(persistedDocumentsPath, 'utf8')) as Record<string, string>;
  const report = JSON.parse(readFileSync(operationsReportPath, 'utf8')) as OperationReport[];
  const operations = Object.entries(manifest).map(([id, document]) => {
    const name = /(?:query|mutation|subscription)\s+(\w+)/.exec(document)?.[1];
    if (!name) throw new Error(`${persistedDocumentsPath}: ${id} has no named operation`);
    const variables = variablesByOperation[name];
    if (!variables)
      throw new Error(`${name} is shipped but test/support/shipped-operations.ts has no variables for it`);
    const entry = report.find((candidate) => candidate.name === name);
    if (!entry) throw new Error(`${name} is shipped but missing from ${operationsReportPath}`);
    return {
      name,
      kind: entry.kind,
      hash: id.replace(/^sha256:/, ''),
      document,
      variables: variables(),
      signedIn: signedInOperations.has(name),
      report: entry,
    };
  });
  const stale = Object.keys(variablesByOperation).filter((name) => !operations.some((op) => op.name === name));
  if (stale.length > 0) throw new Error(`no longer shipped, yet given variables: ${stale.join(', ')}`);
  return operations.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

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
