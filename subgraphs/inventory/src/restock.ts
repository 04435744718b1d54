import { sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { badUserInput } from '../../../platform/src/errors.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import * as tables from './db/schema.ts';
import { stockRestocked } from './events.ts';

const maxUnitsPerRestock = 100_000;

/**
 * Adds units to a product's stock in one statement, so concurrent restocks
 * and reservations all count, and records StockRestocked in the same
 * transaction, so whoever caches the product's stock hears of it even when
 * the mutation's answer could not name the product.
 */
export async function restock(
  db: Database<typeof tables>,
  productId: string,
  quantity: number,
): Promise<{ id: string; quantity: number }> {
  const id = parseIdArgument(productId, 'productId');
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > maxUnitsPerRestock)
    throw badUserInput(`\`quantity\` must be from 1 to ${maxUnitsPerRestock}, got ${quantity}.`, 'quantity');
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(tables.stockLevels)
      .values({ productId: id, quantity })
      .onConflictDoUpdate({
        target: tables.stockLevels.productId,
        set: { quantity: sql`${tables.stockLevels.quantity} + ${quantity}`, updatedAt: sql`now()` },
      })
      .returning();
    await stockRestocked.record(tx, id, { productId: id, added: quantity, quantity: row!.quantity });
    return { id: row!.productId, quantity: row!.quantity };
  });
}
