import { createHash } from 'node:crypto';
import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { selectRows } from '../../../platform/src/db/database.ts';
import { badUserInput, clientError, ErrorCode } from '../../../platform/src/errors.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import { requireCustomer } from './customers.ts';
import * as tables from './db/schema.ts';
import { orderCancelled, orderPlaced } from './events.ts';

const { idempotencyKeys, orderItems, orders, productPrices } = tables;

export const orderLimits = { lines: 50, quantity: 100 } as const;
/** How long a key answers for the order it placed. */
const idempotencyKeyLifetimeMs = 24 * 60 * 60 * 1000;
const idempotencyKeyPattern = /^[A-Za-z0-9_:-]{1,128}$/;

export interface PlaceOrderInput {
  items: ReadonlyArray<{ productId: string; quantity: number }>;
  idempotencyKey: string;
}

interface OrderLine {
  productId: string;
  quantity: number;
}

/**
 * Places an order, once per idempotency key. Everything happens in one
 * transaction: the key, the order, its items (priced from this subgraph's
 * price read model) and its OrderPlaced event in the outbox, so a retry
 * after any failure finds either all of them or none.
 *
 * While the first request with a key runs, it holds a transaction-scoped
 * advisory lock on (user, key); a concurrent retry cannot take it and is
 * told IDEMPOTENCY_KEY_IN_PROGRESS rather than waiting or placing a second
 * order. The primary key on (user, key) backs this up.
 */
export async function placeOrder(
  db: Database<typeof tables>,
  viewer: Viewer,
  input: PlaceOrderInput,
): Promise<{ order: typeof orders.$inferSelect; created: boolean }> {
  const lines = validateLines(input.items);
  const key = input.idempotencyKey;
  if (!idempotencyKeyPattern.test(key))
    throw badUserInput('`idempotencyKey` must be 1 to 128 letters, digits, `-`, `_` or `:`.', 'idempotencyKey');
  // The same lines in any order are the same request.
  const canonical = [...lines].sort((a, b) => a.productId.localeCompare(b.productId));
  const requestHash = createHash('sha256').update(JSON.stringify(canonical)).digest('hex');

  return db.transaction(async (tx) => {
    viewer = await requireCustomer(tx, viewer);
    const [lock] = await selectRows<{ locked: boolean }>(
      tx,
      sql`select pg_try_advisory_xact_lock(hashtextextended(${`${viewer.id}\n${key}`}, 0)) as locked`,
    );
    if (!lock?.locked)
      throw clientError(
        ErrorCode.IdempotencyKeyInProgress,
        'An order with this idempotency key is being placed right now. Retry in a moment to get it.',
      );

    const now = new Date();
    await tx
      .delete(idempotencyKeys)
      .where(
        and(eq(idempotencyKeys.userId, viewer.id), eq(idempotencyKeys.key, key), lt(idempotencyKeys.expiresAt, now)),
      );
    const [known] = await tx
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.userId, viewer.id), eq(idempotencyKeys.key, key)));
    if (known) {
      if (known.requestHash !== requestHash)
        throw clientError(
          ErrorCode.IdempotencyKeyReused,
          'This idempotency key was already used for a different order. Use a new key for a new checkout.',
        );
      const [order] = await tx.select().from(orders).where(eq(orders.id, known.orderId));
      return { order: order!, created: false };
    }

    const prices = new Map(
      (
        await tx
          .select()
          .from(productPrices)
          .where(
            inArray(
              productPrices.productId,
              lines.map((line) => line.productId),
            ),
          )
      ).map((price) => [price.productId, price]),
    );
    const unknown = lines.filter((line) => !prices.has(line.productId)).map((line) => line.productId);
    if (unknown.length > 0)
      throw badUserInput(`No product in the catalog has the id ${unknown.map((id) => `"${id}"`).join(', ')}.`, 'items');
    const currencies = new Set(lines.map((line) => prices.get(line.productId)!.currencyCode));
    if (currencies.size > 1) throw badUserInput('The products are priced in different currencies.', 'items');

    const priced = lines.map((line, index) => ({
      ...line,
      lineNumber: index + 1,
      unitPriceCents: prices.get(line.productId)!.unitPriceCents,
    }));
    const [order] = await tx
      .insert(orders)
      .values({
        userId: viewer.id,
        status: 'PENDING',
        totalCents: priced.reduce((sum, line) => sum + line.unitPriceCents * line.quantity, 0),
        currencyCode: [...currencies][0]!,
      })
      .returning();
    await tx.insert(orderItems).values(priced.map((line) => ({ ...line, orderId: order!.id })));
    await orderPlaced.record(tx, order!.id, {
      orderId: order!.id,
      userId: viewer.id,
      items: priced.map(({ productId, quantity, unitPriceCents }) => ({ productId, quantity, unitPriceCents })),
      totalCents: order!.totalCents,
      currencyCode: order!.currencyCode,
    });
    await tx.insert(idempotencyKeys).values({
      userId: viewer.id,
      key,
      requestHash,
      orderId: order!.id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + idempotencyKeyLifetimeMs),
    });
    return { order: order!, created: true };
  });
}

/** Checks every line before anything is read or written. */
function validateLines(items: PlaceOrderInput['items']): OrderLine[] {
  if (items.length === 0) throw badUserInput('An order needs at least one item.', 'items');
  if (items.length > orderLimits.lines)
    throw badUserInput(`An order holds at most ${orderLimits.lines} lines, got ${items.length}.`, 'items');
  const seen = new Set<string>();
  const lines = items.map(({ productId, quantity }, index) => {
    const id = parseIdArgument(productId, `items[${index}].productId`);
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > orderLimits.quantity)
      throw badUserInput(
        `\`items[${index}].quantity\` must be from 1 to ${orderLimits.quantity}, got ${quantity}.`,
        `items[${index}].quantity`,
      );
    if (seen.has(id))
      throw badUserInput(`Product "${id}" appears on two lines; put its whole quantity on one.`, 'items');
    seen.add(id);
    return { productId: id, quantity };
  });
  return lines;
}

/** Keys older than a day are forgotten; run now and then (expired keys are also ignored when read). */
export async function deleteExpiredIdempotencyKeys(db: Database<typeof tables>): Promise<number> {
  const deleted = await db
    .delete(idempotencyKeys)
    .where(lt(idempotencyKeys.expiresAt, new Date()))
    .returning({ key: idempotencyKeys.key });
  return deleted.length;
}

const cancellable = ['PENDING', 'CONFIRMED'] as const;

/**
 * Cancels one of the viewer's orders that has not shipped; cancelling an
 * order already cancelled returns it as it is. Someone else's order is
 * NOT_FOUND, as if it did not exist.
 */
export async function cancelOrder(
  db: Database<typeof tables>,
  viewer: Viewer,
  orderId: string,
): Promise<typeof orders.$inferSelect> {
  const id = parseIdArgument(orderId, 'id');
  return db.transaction(async (tx) => {
    viewer = await requireCustomer(tx, viewer);
    const [order] = await tx
      .select()
      .from(orders)
      .where(and(eq(orders.id, id), eq(orders.userId, viewer.id)))
      .for('update');
    if (!order) throw clientError(ErrorCode.NotFound, `You have no order with the id "${id}".`);
    if (order.status === 'CANCELLED') return order;
    if (!(cancellable as readonly string[]).includes(order.status))
      throw clientError(
        ErrorCode.Conflict,
        `The order is ${order.status.toLowerCase()} and can no longer be cancelled.`,
      );
    const [cancelled] = await tx.update(orders).set({ status: 'CANCELLED' }).where(eq(orders.id, id)).returning();
    await orderCancelled.record(tx, id, { orderId: id, userId: viewer.id });
    return cancelled!;
  });
}
