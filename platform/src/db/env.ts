import { resolve } from 'node:path';
import { z } from 'zod';
import { envPrefix, postgresUrlFromEnv } from '../config.ts';
import { defineEnvFragment } from '../config/fragment.ts';
import { defaultPoolMax, type DatabaseTarget } from './database.ts';
import { defaultReadYourWritesWindowMs } from './replicas.ts';

/**
 * Where one subgraph's database is: `<NAME>_DATABASE_URL` (prefixed, so that
 * a stray `DATABASE_URL` cannot point every subgraph at the same place),
 * else embedded PGlite in `DATA_DIR/<name>` (default `.data`).
 * `DB_POOL_MAX` bounds a Postgres pool (default `defaultPoolMax`);
 * `DB_STATEMENT_TIMEOUT_MS` and `DB_IDLE_IN_TRANSACTION_TIMEOUT_MS` bound
 * its sessions (database.ts `sessionTimeouts`; 0 sends none).
 * `<NAME>_DATABASE_REPLICA_URLS` lists streaming replicas of that Postgres
 * that serve the subgraph's reads, with `DB_READ_YOUR_WRITES_WINDOW_MS`
 * bounding how long a caller's own writes keep their reads on the primary
 * (replicas.ts).
 */
export function databaseEnv(name: string) {
  const urlVariable = `${envPrefix(name)}_DATABASE_URL`;
  const replicaUrlsVariable = `${envPrefix(name)}_DATABASE_REPLICA_URLS`;
  const urlOf = (vars: object) => (vars as Record<string, unknown>)[urlVariable] as string | undefined;
  const replicaUrlsOf = (vars: object) =>
    (vars as Record<string, unknown>)[replicaUrlsVariable] as string[] | undefined;
  return defineEnvFragment({
    // Typed as fixed names: a computed key would widen every variable's type to the URL's.
    variables: {
      [urlVariable]: postgresUrlFromEnv.optional(),
      [replicaUrlsVariable]: postgresUrlListFromEnv.optional(),
      DATA_DIR: z.string().min(1).optional(),
      DB_POOL_MAX: z.coerce.number().int().min(1).max(1000).optional(),
      DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).optional(),
      DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(0).optional(),
      DB_READ_YOUR_WRITES_WINDOW_MS: z.coerce.number().int().min(0).optional(),
    } as {
      DATA_DIR: z.ZodOptional<z.ZodString>;
      DB_POOL_MAX: z.ZodOptional<z.ZodCoercedNumber>;
      DB_STATEMENT_TIMEOUT_MS: z.ZodOptional<z.ZodCoercedNumber>;
      DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.ZodOptional<z.ZodCoercedNumber>;
      DB_READ_YOUR_WRITES_WINDOW_MS: z.ZodOptional<z.ZodCoercedNumber>;
    },
    prefixes: [`${envPrefix(name)}_DATABASE_`, 'DB_POOL_', 'DB_STATEMENT_', 'DB_IDLE_', 'DB_READ_'],
    check: (vars) => {
      const url = urlOf(vars);
      const replicaUrls = replicaUrlsOf(vars);
      if (!replicaUrls) return [];
      // Replicas copy a primary; without one the subgraph would write to PGlite and read a Postgres it never wrote.
      if (!url) return [{ variable: replicaUrlsVariable, message: `needs ${urlVariable}, the primary they replicate` }];
      if (replicaUrls.includes(url)) return [{ variable: replicaUrlsVariable, message: `lists ${urlVariable} itself` }];
      return [];
    },
    fromEnv: (vars): DatabaseTarget => {
      const url = urlOf(vars);
      if (!url) return { kind: 'pglite', dataDir: resolve(vars.DATA_DIR ?? defaultDataDir, name) };
      const replicaUrls = replicaUrlsOf(vars);
      return {
        kind: 'postgres',
        url,
        poolMax: vars.DB_POOL_MAX ?? defaultPoolMax,
        statementTimeoutMs: vars.DB_STATEMENT_TIMEOUT_MS ?? defaultStatementTimeoutMs,
        idleInTransactionTimeoutMs: vars.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS ?? defaultIdleInTransactionTimeoutMs,
        ...(replicaUrls && {
          replicas: {
            urls: replicaUrls,
            readYourWritesWindowMs: vars.DB_READ_YOUR_WRITES_WINDOW_MS ?? defaultReadYourWritesWindowMs,
          },
        }),
      };
    },
  });
}

/**
 * Comma-separated postgres:// URLs, at least one; spaces around the commas
 * are allowed. A comma inside a URL (in a password, say) must be
 * percent-encoded as `%2C`.
 */
const postgresUrlListFromEnv = z.string().transform((value, context) => {
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (urls.length === 0) {
    context.addIssue({ code: 'custom', message: 'expected one or more comma-separated postgres:// URLs' });
    return z.NEVER;
  }
  const wrong = urls.findIndex((url) => !postgresUrlFromEnv.safeParse(url).success);
  if (wrong >= 0) {
    // Named by its place, not shown: a URL may hold a password.
    context.addIssue({
      code: 'custom',
      message: `expected comma-separated postgres:// or postgresql:// URLs; URL ${wrong + 1} of ${urls.length} is not one`,
    });
    return z.NEVER;
  }
  return urls;
});

/**
 * Twice the router's default wait for a subgraph (SUBGRAPH_TIMEOUT_MS, 5 s):
 * a statement still running then has no one left to answer.
 */
export const defaultStatementTimeoutMs = 10_000;
/** A transaction idle this long between statements is a request that stopped; its locks are released. */
export const defaultIdleInTransactionTimeoutMs = 10_000;

/** Where embedded databases and development secrets live unless `DATA_DIR` says otherwise. */
export const defaultDataDir = '.data';
