import { eq } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { handleOnce, type DomainEvent } from '../../../platform/src/events/index.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import { accountIdOf, noAccount } from '../../../platform/src/subgraph/authorization.ts';
import * as tables from './db/schema.ts';

const { customers } = tables;

/** Records that the account of a UserProfileChanged exists, once per event; only whose account it is matters here. */
export function applyUserProfileChanged(
  db: Database<typeof tables>,
  event: DomainEvent<{ userId: string }>,
): Promise<boolean> {
  return handleOnce(db, 'orders', event, async (tx) => {
    const { userId } = event.payload;
    await tx.insert(customers).values({ userId }).onConflictDoNothing();
  });
}

/**
 * The viewer as a customer orders knows, with their id as stored, or
 * FORBIDDEN: a token for someone without an account must not reserve stock
 * for an order no account can see. Run inside the write's transaction.
 */
export async function requireCustomer(db: Pick<Database<typeof tables>, 'select'>, viewer: Viewer): Promise<Viewer> {
  const id = accountIdOf(viewer);
  const [known] = await db.select({ userId: customers.userId }).from(customers).where(eq(customers.userId, id));
  if (!known) throw noAccount();
  return { ...viewer, id };
}
