import { sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { badUserInput } from '../../../platform/src/errors.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import * as tables from './db/schema.ts';

const maxUnitsPerRestock = 100_000;

/** Adds units to a product's stock in one statement, so concurrent restocks and reservations all count. */
export async function restock(
  db: Database<typeof tables>,
  productId: string,
  quantity: number,
): Promise<{ id: string; quantity: number }> {
  const id = parseIdArgument(productId, 'productId');
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > maxUnitsPerRestock)
    throw badUserInput(`\`quantity\` must be from 1 to ${maxUnitsPerRestock}, got ${quantity}.`, 'quantity');
  const [row] = await db
    .insert(tables.stockLevels)
    .values({ productId: id, quantity })
    .onConflictDoUpdate({
      target: tables.stockLevels.productId,
      set: { quantity: sql`${tables.stockLevels.quantity} + ${quantity}`, updatedAt: sql`now()` },
    })
    .returning();
  return { id: row!.productId, quantity: row!.quantity };
}
