import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedProgress, SeedSize } from '../../../platform/src/subgraph/definition.ts';
import { insertInBatches, seedOrder, seedProduct, seedUser, worldSizes } from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

export async function seed(db: Database<typeof tables>, size: SeedSize, progress?: SeedProgress): Promise<void> {
  const world = worldSizes[size];
  await db.transaction((tx) =>
    insertInBatches(
      world.orders,
      (index) => seedOrder(index, world),
      async (batch) => {
        await tx
          .insert(tables.orders)
          .values(
            batch.map(({ items, ...order }) => ({
              ...order,
              totalCents: items.reduce((sum, item) => sum + item.unitPriceCents * item.quantity, 0),
            })),
          )
          .onConflictDoNothing();
        await tx
          .insert(tables.orderItems)
          .values(
            batch.flatMap((order) =>
              order.items.map((item, line) => ({ ...item, orderId: order.id, lineNumber: line + 1 })),
            ),
          )
          .onConflictDoNothing();
      },
      { table: 'orders', progress },
    ),
  );
  // The price read model starts from the catalog the products subgraph seeds; from then on its
  // ProductPriceChanged events keep it current.
  await db.transaction((tx) =>
    insertInBatches(
      world.products,
      (index) => seedProduct(index),
      async (batch) => {
        await tx
          .insert(tables.productPrices)
          .values(
            batch.map((product) => ({
              productId: product.id,
              unitPriceCents: product.priceCents,
              currencyCode: product.currencyCode,
              changedAt: product.createdAt,
            })),
          )
          .onConflictDoNothing();
      },
      { table: 'product prices', progress },
    ),
  );
  // The accounts the accounts subgraph seeds; from then on its UserProfileChanged events add others.
  await db.transaction((tx) =>
    insertInBatches(
      world.users,
      (index) => {
        const user = seedUser(index);
        return { userId: user.id, knownSince: user.createdAt };
      },
      (rows) => tx.insert(tables.customers).values(rows).onConflictDoNothing(),
      { table: 'customers', progress },
    ),
  );
}
