import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import type { DatabaseTarget } from '../platform/src/db/database.ts';

export interface TestDatabase {
  /** Pass to `openDatabase`; migrations are the caller's business. */
  readonly target: DatabaseTarget;
  /** Drops the database, even with connections still open. */
  drop(): Promise<void>;
}

/** Postgres identifiers are cut at 63 bytes; leave room for `t_`, `_` and 8 hex digits. */
const maxLabelLength = 63 - 11;

/**
 * A fresh, empty database for one test file, so files run in parallel without
 * seeing each other's rows. Without a real Postgres (only outside CI, see
 * global-setup.ts) it is an in-memory PGlite database instead. `adminUrl`
 * picks another server than the suite's, such as one a test restarts.
 */
export async function createTestDatabase(
  label: string,
  adminUrl: string | null = inject('postgresAdminUrl'),
): Promise<TestDatabase> {
  if (adminUrl === null) {
    return { target: { kind: 'pglite', dataDir: null }, drop: async () => {} };
  }

  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, maxLabelLength);
  const name = `t_${safeLabel}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await admin`create database ${admin(name)}`;
  } catch (error) {
    await admin.end({ timeout: 5 });
    throw error;
  }

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    target: { kind: 'postgres', url: url.toString() },
    async drop() {
      try {
        // FORCE: a test that forgot to close its pool must not make cleanup fail.
        await admin`drop database if exists ${admin(name)} with (force)`;
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}
