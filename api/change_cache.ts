/**
 * A read-through cache that a change feed keeps fresh: entries are dropped when the feed says their row changed
 * (`invalidate`) or that changes may have gone unseen (`clear`), and in any case after `maxAgeMs`. It exists for
 * clients polling a job (GET /v1/edits/{id}): most polls find the job unchanged, and a hit costs no statement.
 *
 * Freshness: an entry is never older than the last change notified for its row. A load that was running when its
 * row's change arrived is returned to its callers (their requests overlapped the change) but not stored, so a
 * later read loads again. While `enabled()` is false (the feed is not listening) nothing is served from or kept
 * in the cache: every read loads.
 *
 * Entries are keyed by row id and remember the group (tenant) that loaded them; another group's read of the same
 * id misses and loads under its own scope, so the cache never answers across tenants.
 */
export interface ChangeCache<T> {
  /** The entry for `id` loaded by `group`, if it is cached and fresh. */
  get(group: string, id: string): T | undefined;
  /** Runs `load` and keeps its result unless `id` changed meanwhile (undefined, "not found", is never kept). */
  load(group: string, id: string, load: () => Promise<T | undefined>): Promise<T | undefined>;
  /** `id` changed: drop its entry, and do not keep the result of a load of it that is running. */
  invalidate(id: string): void;
  /** Anything may have changed: drop every entry and every running load's result. */
  clear(): void;
}

export interface ChangeCacheOptions {
  /** whether the feed is listening; default always */
  enabled?: () => boolean;
  /** oldest entry served, however quiet the feed */
  maxAgeMs: number;
  /** most entries kept (the oldest goes first) */
  maxEntries: number;
  now?: () => number;
}

interface Entry<T> {
  group: string;
  value: T;
  expires: number;
}

/** One running load: marked stale when its id changes before it ends. */
interface Fill {
  stale: boolean;
}

export function createChangeCache<T>(options: ChangeCacheOptions): ChangeCache<T> {
  const enabled = options.enabled ?? (() => true);
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry<T>>();
  const fills = new Map<string, Set<Fill>>();

  return {
    get(group, id) {
      const entry = entries.get(id);
      if (entry === undefined || entry.group !== group || !enabled()) return undefined;
      if (entry.expires > now()) return entry.value;
      entries.delete(id);
      return undefined;
    },
    async load(group, id, load) {
      const fill: Fill = { stale: !enabled() };
      let running = fills.get(id);
      if (!running) fills.set(id, running = new Set());
      running.add(fill);
      try {
        const value = await load();
        if (value !== undefined && !fill.stale && enabled()) {
          entries.delete(id); // re-inserted last: Map order stays age order
          if (entries.size >= options.maxEntries) entries.delete(entries.keys().next().value!);
          entries.set(id, { group, value, expires: now() + options.maxAgeMs });
        }
        return value;
      } finally {
        running.delete(fill);
        if (running.size === 0 && fills.get(id) === running) fills.delete(id);
      }
    },
    invalidate(id) {
      entries.delete(id);
      for (const fill of fills.get(id) ?? []) fill.stale = true;
    },
    clear() {
      entries.clear();
      for (const running of fills.values()) for (const fill of running) fill.stale = true;
    },
  };
}
