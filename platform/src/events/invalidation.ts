/**
 * The vocabulary in which an event says what it makes stale: the response
 * cache's tags (router/src/plugins/response-cache/tags.ts builds them from
 * responses with these same functions). An event names entities and root
 * lists; the cache widens an entity to the responses that show it without
 * its id (`Product:?`).
 */

/** The tag of one entity, `Product:<id>`: every cached response that shows it. */
export function entityTag(type: string, id: string): string {
  return `${type}:${id}`;
}

/**
 * The tag of a query's root list or connection, `Query:products`: a change
 * that can move an entity into or out of it (a price, for a list ordered by
 * price) purges the list as a whole.
 */
export function rootListTag(field: string): string {
  return entityTag('Query', field);
}

/** The type and id an entity or list tag names; null for a tag that names no single one (`Product`, `Product:?`). */
export function taggedEntity(tag: string): { type: string; id: string } | null {
  const separator = tag.indexOf(':');
  if (separator <= 0 || separator === tag.length - 1 || tag.endsWith(':?')) return null;
  return { type: tag.slice(0, separator), id: tag.slice(separator + 1) };
}
