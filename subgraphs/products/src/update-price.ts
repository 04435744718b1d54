import { eq } from 'drizzle-orm';
import { republishState } from '../../../platform/src/events/index.ts';
import type { Database } from '../../../platform/src/db/database.ts';
import { badUserInput, clientError, ErrorCode } from '../../../platform/src/errors.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import * as tables from './db/schema.ts';
import { productPriceChanged, type ProductPriceChanged } from './events.ts';

/** The product's price as of now: the whole state, so the orders subgraph prices from it alone. */
function priceOf(product: typeof tables.products.$inferSelect): { aggregateId: string; payload: ProductPriceChanged } {
  return {
    aggregateId: product.id,
    payload: {
      productId: product.id,
      unitPriceCents: product.priceCents,
      currencyCode: product.currencyCode,
      changedAt: new Date().toISOString(),
    },
  };
}

/** Every product's current price, for a price read model that starts empty (`npm run db:republish -- products`). */
export function republishPrices(db: Database<typeof tables>): Promise<number> {
  return republishState(db, {
    event: productPriceChanged,
    table: tables.products,
    id: tables.products.id,
    stateOf: priceOf,
  });
}

/** A price anyone would type by mistake is refused: over $1,000,000. */
const maxPriceCents = 100_000_000;

export async function updateProductPrice(
  db: Database<typeof tables>,
  productId: string,
  price: { centAmount: number; currencyCode: string },
): Promise<typeof tables.products.$inferSelect> {
  const id = parseIdArgument(productId, 'productId');
  if (!Number.isInteger(price.centAmount) || price.centAmount < 0 || price.centAmount > maxPriceCents)
    throw badUserInput(
      `\`price.centAmount\` must be from 0 to ${maxPriceCents}, got ${price.centAmount}.`,
      'price.centAmount',
    );
  return db.transaction(async (tx) => {
    const [product] = await tx.select().from(tables.products).where(eq(tables.products.id, id)).for('update');
    if (!product) throw clientError(ErrorCode.NotFound, `No product has the id "${id}".`);
    if (price.currencyCode !== product.currencyCode)
      throw badUserInput(
        `\`price.currencyCode\` must be the product's currency, ${product.currencyCode}, got ${JSON.stringify(price.currencyCode.slice(0, 8))}.`,
        'price.currencyCode',
      );
    const [updated] = await tx
      .update(tables.products)
      .set({ priceCents: price.centAmount })
      .where(eq(tables.products.id, id))
      .returning();
    const { aggregateId, payload } = priceOf(updated!);
    await productPriceChanged.record(tx, aggregateId, payload);
    return updated!;
  });
}
