import { DrizzleQueryError } from 'drizzle-orm/errors';
import { stdSerializers } from 'pino';

/**
 * What a database error may show in a log: the statement's text (values
 * travel apart from it, as parameters) and the server's diagnostics that
 * name things, never those that can quote data. Postgres' `detail` quotes
 * the key of a unique or foreign-key violation, `where` can quote a bound
 * parameter, and the drivers keep the parameters themselves on the error
 * (postgres.js even makes them enumerable whenever its `debug` hook is set,
 * as database.ts sets it to count statements). An allowlist, so a field a
 * driver adds later stays out until someone decides it is safe.
 */
const loggedFields = [
  'code',
  'severity',
  'routine',
  'schema_name',
  'table_name',
  'column_name',
  'data_type_name',
  'constraint_name',
] as const;

/** SQLSTATE class 22, data exceptions: their messages quote the offending value (`invalid input syntax for type uuid: "…"`). */
const quotesValues = /^22/;

interface DriverError extends Error {
  code: string;
  severity: string;
}

/** An error a Postgres server sent back, through postgres.js or PGlite. */
function isDriverError(error: unknown): error is DriverError {
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return (
    error instanceof Error && typeof severity === 'string' && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
  );
}

function isDatabaseError(error: unknown): boolean {
  return error instanceof DrizzleQueryError || isDriverError(error);
}

/** The error and its causes, outermost first, each once. */
function chainOf(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current instanceof Error && !chain.includes(current); current = current.cause) {
    chain.push(current);
  }
  return chain.length > 0 ? chain : [error];
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (isDriverError(error) && quotesValues.test(error.code)) {
    return error.message.replace(/"(?:[^"\\]|\\.)*"/g, '"[withheld]"');
  }
  return error.message;
}

/** The stack's frames under a message of our making: the stack's own first lines repeat the message. */
function stackOf(error: unknown): string {
  const name = error instanceof Error ? error.constructor.name || error.name : 'Error';
  const frames = error instanceof Error ? (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)) : [];
  return [`${name}: ${messageOf(error)}`, ...frames].join('\n');
}

/**
 * pino's `err` serializer, for every logger of the project: an error that
 * is or wraps a database error is logged with its messages, frames, the
 * statement and the allowlisted diagnostics only; any other error as pino
 * logs it.
 */
export function serializeError(error: unknown): unknown {
  const chain = chainOf(error);
  if (!chain.some(isDatabaseError)) return stdSerializers.err(error as Error);
  const fields: Record<string, unknown> = {};
  for (const link of chain) {
    if (link instanceof DrizzleQueryError) fields.query ??= link.query;
    if (!isDriverError(link)) continue;
    for (const key of loggedFields) {
      const value: unknown = (link as unknown as Record<string, unknown>)[key];
      if (value !== undefined) fields[key] ??= value;
    }
  }
  return {
    type: chain[0] instanceof Error ? chain[0].constructor.name || chain[0].name : typeof chain[0],
    message: chain.map(messageOf).join(': '),
    stack: chain.map(stackOf).join('\ncaused by: '),
    ...fields,
  };
}
