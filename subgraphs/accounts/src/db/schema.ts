import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    username: text('username').notNull().unique('users_username_key'),
    email: text('email').notNull().unique('users_email_key'),
    // Millisecond precision, so a cursor carrying a JS Date finds its row exactly.
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /**
     * When the name or username last changed: the `changedAt` of the
     * UserProfileChanged it announced. Kept so each change of one user is
     * strictly later than the one before, which is how consumers tell an
     * old event from a new one.
     */
    profileChangedAt: timestamp('profile_changed_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [index('users_created_at_id_idx').on(table.createdAt, table.id)],
);

export type UserRow = typeof users.$inferSelect;

// The profile changes this subgraph announces (UserProfileChanged).
export { outbox } from '../../../../platform/src/events/index.ts';
