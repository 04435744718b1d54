import { z } from 'zod';

/** Raised when the environment does not describe a runnable service. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses `env` once against `schema` and fails fast. The message names every
 * offending variable and says what is wrong with it, so a misconfigured
 * deployment stops at boot instead of failing on the first request.
 */
export function parseEnv<T extends z.ZodType>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
  /** Real variable names of keys the schema reads under a fixed alias. */
  aliases: Record<string, string> = {},
): z.infer<T> {
  const aliased = Object.fromEntries(Object.entries(aliases).map(([key, variable]) => [key, env[variable]]));
  const result = schema.safeParse({ ...env, ...aliased });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join('.');
    return `  ${aliases[key] ?? (key || '(environment)')}: ${issue.message}`;
  });
  throw new ConfigError(`Invalid environment:\n${problems.join('\n')}`);
}

/** `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`, as people write them in env files. */
export const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], {
    message: 'expected true or false',
  })
  .transform((value) => value === 'true' || value === '1' || value === 'yes' || value === 'on');

// Digits only: coercion would read an empty `PORT=` as 0 (any free port) and `0x10` as 16.
export const portFromEnv = z
  .union([z.number(), z.string().trim().regex(/^\d+$/).transform(Number)], { message: 'expected a port number' })
  .pipe(z.number().int().max(65535, 'expected a port number from 0 to 65535'));

const secondsMessage = 'expected a number of seconds, such as 5 or 0.5';
const decimalNumber = /^\d+(\.\d+)?$/;

/** A duration in seconds, fractions allowed (`0.5`); digits only, for the reason given above. */
export const secondsFromEnv = z
  .union([z.number(), z.string().trim().regex(decimalNumber).transform(Number)], { message: secondsMessage })
  .pipe(z.number().min(0, secondsMessage));

export const nodeEnvFromEnv = z.enum(['development', 'production', 'test']).default('development');

export type NodeEnv = z.infer<typeof nodeEnvFromEnv>;

export const logLevelFromEnv = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** A postgres:// or postgresql:// connection string. */
export const postgresUrlFromEnv = z.string().refine((value) => /^postgres(ql)?:\/\//.test(value), {
  message: 'expected a postgres:// or postgresql:// URL',
});

/** Turns a subgraph name into the prefix of its env variables: `accounts` → `ACCOUNTS`. */
export function envPrefix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
