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
  },
  (table) => [index('users_created_at_id_idx').on(table.createdAt, table.id)],
);

export type UserRow = typeof users.$inferSelect;
