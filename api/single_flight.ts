/**
 * Coalesces identical concurrent reads: while a load for a key is in flight, later callers for the same key
 * share its result instead of starting their own. Nothing is cached after it settles, so a caller never sees
 * data older than a query that was still running when it arrived. Polling clients — many of them on one job —
 * are the case it exists for: N concurrent polls cost one database read, not N.
 */
export interface SingleFlight<T> {
  run(key: string, load: () => Promise<T>): Promise<T>;
}

export function createSingleFlight<T>(): SingleFlight<T> {
  const inFlight = new Map<string, Promise<T>>();
  return {
    run(key, load) {
      const current = inFlight.get(key);
      if (current) return current;
      const started = load().finally(() => inFlight.delete(key));
      inFlight.set(key, started);
      return started;
    },
  };
}
