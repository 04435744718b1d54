import type { GraphQLResolveInfo } from 'graphql';

/**
 * A resolver that answers `value` with a public cache hint of a minute, so
 * the router's response cache may keep the response: tests that must run
 * against hits as well as misses serve their fields with it.
 */
export function cacheableForAMinute<T>(value: T) {
  return (_: unknown, __: unknown, ___: unknown, info: GraphQLResolveInfo): T => {
    // Apollo Server's cache control plugin puts this on `info`.
    (info as unknown as { cacheControl: { setCacheHint(hint: object): void } }).cacheControl.setCacheHint({
      maxAge: 60,
      scope: 'PUBLIC',
    });
    return value;
  };
}
