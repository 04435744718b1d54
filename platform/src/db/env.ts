import { resolve } from 'node:path';
import { z } from 'zod';
import { envPrefix, postgresUrlFromEnv } from '../config.ts';
import { defineEnvFragment } from '../config/fragment.ts';
import { defaultPoolMax, type DatabaseTarget } from './database.ts';

/**
 * Where one subgraph's database is: `<NAME>_DATABASE_URL` (prefixed, so that
 * a stray `DATABASE_URL` cannot point every subgraph at the same place),
 * else embedded PGlite in `DATA_DIR/<name>` (default `.data`).
 * `DB_POOL_MAX` bounds a Postgres pool (default `defaultPoolMax`);
 * `DB_STATEMENT_TIMEOUT_MS` and `DB_IDLE_IN_TRANSACTION_TIMEOUT_MS` bound
 * its sessions (database.ts `sessionTimeouts`; 0 sends none).
 */
export function databaseEnv(name: string) {
  const urlVariable = `${envPrefix(name)}_DATABASE_URL`;
  return defineEnvFragment({
    // Typed as a fixed name: a computed key would widen every variable's type to the URL's.
    variables: {
      [urlVariable]: postgresUrlFromEnv.optional(),
      DATA_DIR: z.string().min(1).optional(),
      DB_POOL_MAX: z.coerce.number().int().min(1).max(1000).optional(),
      DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).optional(),
      DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(0).optional(),
    } as {
      DATA_DIR: z.ZodOptional<z.ZodString>;
      DB_POOL_MAX: z.ZodOptional<z.ZodCoercedNumber>;
      DB_STATEMENT_TIMEOUT_MS: z.ZodOptional<z.ZodCoercedNumber>;
      DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.ZodOptional<z.ZodCoercedNumber>;
    },
    prefixes: [`${envPrefix(name)}_DATABASE_`, 'DB_POOL_', 'DB_STATEMENT_', 'DB_IDLE_'],
    fromEnv: (vars): DatabaseTarget => {
      const url = (vars as Record<string, unknown>)[urlVariable] as string | undefined;
      return url
        ? {
            kind: 'postgres',
            url,
            poolMax: vars.DB_POOL_MAX ?? defaultPoolMax,
            statementTimeoutMs: vars.DB_STATEMENT_TIMEOUT_MS ?? defaultStatementTimeoutMs,
            idleInTransactionTimeoutMs: vars.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS ?? defaultIdleInTransactionTimeoutMs,
          }
        : { kind: 'pglite', dataDir: resolve(vars.DATA_DIR ?? defaultDataDir, name) };
    },
  });
}

/**
 * Twice the router's default wait for a subgraph (SUBGRAPH_TIMEOUT_MS, 5 s):
 * a statement still running then has no one left to answer.
 */
export const defaultStatementTimeoutMs = 10_000;
/** A transaction idle this long between statements is a request that stopped; its locks are released. */
export const defaultIdleInTransactionTimeoutMs = 10_000;

/** Where embedded databases and development secrets live unless `DATA_DIR` says otherwise. */
export const defaultDataDir = '.data';
