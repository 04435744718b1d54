/** What `map` returns for a value that is not passed on. */
export const skip: unique symbol = Symbol('skip');

/**
 * An async iterator over `source`'s values, each through `map` (which may
 * `skip` one, or answer a promise), whose `return()` ends it at once. An
 * async generator's `return()` waits for its pending `next()`, and a
 * subscription's next event may be days away: a client that leaves would
 * hold its subscription, on the router and on the subgraph, until then.
 * `onClose` runs once, however it ends.
 */
export function closableMap<T, U>(
  source: AsyncIterator<T>,
  map: (value: T) => U | typeof skip | Promise<U | typeof skip>,
  onClose: () => void = () => {},
): AsyncIterableIterator<U> {
  let closed = false;
  const done = { done: true, value: undefined } as const;
  // Settles a `next()` that is waiting for the source: whoever consumes this iterator sees its end at once.
  let ended = () => {};
  const end = new Promise<typeof done>((resolve) => (ended = () => resolve(done)));
  const close = () => {
    if (closed) return;
    closed = true;
    ended();
    onClose();
    // Not awaited: a source that is an async generator finishes its own return only after its pending next.
    void source.return?.().catch(() => {});
  };
  return {
    async next(): Promise<IteratorResult<U>> {
      if (closed) return done;
      try {
        for (;;) {
          const result = await Promise.race([source.next(), end]);
          if (closed) return done;
          if (result.done) {
            close();
            return done;
          }
          const value = await map(result.value);
          if (closed) return done;
          if (value !== skip) return { done: false, value };
        }
      } catch (error) {
        close();
        throw error;
      }
    },
    async return(): Promise<IteratorResult<U>> {
      close();
      return done;
    },
    async throw(error: unknown): Promise<IteratorResult<U>> {
      close();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
