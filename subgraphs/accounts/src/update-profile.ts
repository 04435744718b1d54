import { and, eq, ne, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { badUserInput, clientError, ErrorCode } from '../../../platform/src/errors.ts';
import { republishState } from '../../../platform/src/events/index.ts';
import type { Viewer } from '../../../platform/src/identity.ts';
import { accountIdOf, noAccount } from '../../../platform/src/subgraph/authorization.ts';
import * as tables from './db/schema.ts';
import { userProfileChanged, type UserProfileChanged } from './events.ts';

const { users } = tables;

export const profileRules = {
  // Dots only between other characters, as in the handles people already have (`ada.lovelace`).
  username: /^(?!\.)(?!.*\.\.)[a-z0-9_.]{3,30}(?<!\.)$/,
  usernameRule:
    '3 to 30 characters, each a lowercase letter (a-z), a digit, `_` or `.`, with no `.` first, last or twice in a row',
  nameLength: { min: 1, max: 100 },
} as const;

export interface UpdateProfileInput {
  name?: string | null;
  username?: string | null;
}

/**
 * Changes the viewer's own name and/or username and records
 * UserProfileChanged in the same transaction. A change that changes
 * nothing writes nothing and announces nothing.
 */
export async function updateProfile(
  db: Database<typeof tables>,
  viewer: Viewer,
  input: UpdateProfileInput,
): Promise<typeof users.$inferSelect> {
  const change = validate(input);
  const id = accountIdOf(viewer);
  return db.transaction(async (tx) => {
    // Claims of one username queue up here, so the check below cannot pass for two users at once
    // (the unique constraint would still refuse the second, but as an internal error).
    if (change.username !== undefined)
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`username\n${change.username}`}, 0))`);
    // Locked: concurrent changes of one user take turns, so each is dated after the one before.
    const [user] = await tx.select().from(users).where(eq(users.id, id)).for('update');
    if (!user) throw noAccount();
    const name = change.name ?? user.name;
    const username = change.username ?? user.username;
    if (name === user.name && username === user.username) return user;
    if (username !== user.username) {
      const [taken] = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.username, username), ne(users.id, id)));
      if (taken)
        throw clientError(ErrorCode.Conflict, `The username "${username}" is taken. Choose another one.`, {
          argumentName: 'username',
        });
    }
    // Never at or before the previous change, even when the clock reads the same millisecond.
    const changedAt = new Date(Math.max(Date.now(), user.profileChangedAt.getTime() + 1));
    const [updated] = await tx
      .update(users)
      .set({ name, username, profileChangedAt: changedAt })
      .where(eq(users.id, id))
      .returning();
    const { aggregateId, payload } = profileOf(updated!);
    await userProfileChanged.record(tx, aggregateId, payload);
    return updated!;
  });
}

/** The user's whole profile, dated by its last change, so read models keep only the newest. */
function profileOf(user: typeof users.$inferSelect): { aggregateId: string; payload: UserProfileChanged } {
  return {
    aggregateId: user.id,
    payload: {
      userId: user.id,
      username: user.username,
      name: user.name,
      changedAt: user.profileChangedAt.toISOString(),
    },
  };
}

/** Every user's profile, for a read model that starts empty (`npm run db:republish -- accounts`). */
export function republishProfiles(db: Database<typeof tables>): Promise<number> {
  return republishState(db, { event: userProfileChanged, table: users, id: users.id, stateOf: profileOf });
}

/** Checks the input before anything is read or written; the name is kept trimmed. */
function validate(input: UpdateProfileInput): { name?: string; username?: string } {
  const change: { name?: string; username?: string } = {};
  if (input.name != null) {
    const name = input.name.trim();
    const { min, max } = profileRules.nameLength;
    // Characters as people count them (code points), not UTF-16 units.
    const length = [...name].length;
    if (length < min || length > max)
      throw badUserInput(`\`name\` must be ${min} to ${max} characters once trimmed, got ${length}.`, 'name');
    change.name = name;
  }
  if (input.username != null) {
    if (!profileRules.username.test(input.username))
      throw badUserInput(
        `\`username\` must be ${profileRules.usernameRule}, got ${JSON.stringify(input.username.slice(0, 40))}.`,
        'username',
      );
    change.username = input.username;
  }
  if (change.name === undefined && change.username === undefined)
    throw badUserInput('Give a `name`, a `username` or both.', 'input');
  return change;
}
