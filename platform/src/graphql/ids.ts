import { badUserInput } from '../errors.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Entity ids are UUIDs; anything else can never match a row. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && uuidPattern.test(value);
}

/** Checks an id argument, so a typo is reported instead of silently returning null. */
export function parseIdArgument(value: string, argumentName: string): string {
  if (!uuidPattern.test(value)) {
    throw badUserInput(`\`${argumentName}\` must be a UUID, got ${JSON.stringify(value.slice(0, 64))}.`, argumentName);
  }
  return value.toLowerCase();
}

/** Loader options for UUID keys: malformed ids match nothing, and case never matters. */
export const uuidKeys = {
  isValidKey: (key: string) => isUuid(key),
  normalizeKey: (key: string) => key.toLowerCase(),
} as const;
