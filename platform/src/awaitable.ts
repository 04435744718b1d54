/**
 * A value, or a promise of it. Hot paths return values as they are when
 * they have them: every promise is an allocation and a microtask, and on
 * Node 20 also a call into each AsyncLocalStorage's hook.
 */
export type Awaitable<T> = T | Promise<T>;

export function isPromise<T>(value: Awaitable<T>): value is Promise<T> {
  return value instanceof Promise;
}
