/**
 * Batches concurrent reads of different rows of one group (a tenant) into one load: reads that arrive while a
 * load of their group is running, or within the same turn of the event loop, wait for it to end and then go
 * together as the next load (at most `maxBatch` ids each). Polling clients of many jobs thus cost one statement
 * per batch instead of one per request.
 *
 * Nothing is cached here: every read is answered by a load that started after the read was asked for, so a
 * caller never sees data older than its own request (keeping results between polls is change_cache.ts's job,
 * in front of this). The first read of an idle group waits for the event loop's next turn (`setImmediate`, after
 * pending I/O; `setTimeout(0)` would wait about 2 ms in Deno) before its load starts, so that requests the server
 * has already received can join it; PGlite finishes a statement without giving the event loop a turn, so
 * without that wait no two reads would ever meet.
 */
import { setImmediate } from "node:timers";

export interface ReadBatcher<T> {
  /** The row `id` of `group`, or undefined when the load did not return it. */
  read(group: string, id: string): Promise<T | undefined>;
}

/** Reads `ids` of `group` in one go; the map is keyed as `read` is asked (the batcher looks ids up as given). */
export type LoadMany<T> = (group: string, ids: string[]) => Promise<Map<string, T>>;

export const DEFAULT_MAX_BATCH = 100;

interface Waiter<T> {
  id: string;
  resolve(value: T | undefined): void;
  reject(error: unknown): void;
}

interface Group<T> {
  waiting: Waiter<T>[];
  /** a load is running or scheduled: new readers wait for the next one */
  busy: boolean;
}

export function createReadBatcher<T>(
  loadMany: LoadMany<T>,
  options: { maxBatch?: number } = {},
): ReadBatcher<T> {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const groups = new Map<string, Group<T>>();

  /** Loads batches until nobody waits (a loop, not recursion: under steady polling it may never stop). */
  async function drain(key: string, group: Group<T>): Promise<void> {
    while (group.waiting.length > 0) {
      const batch = group.waiting.splice(0, maxBatch);
      try {
        const found = await loadMany(key, [...new Set(batch.map((w) => w.id))]);
        for (const waiter of batch) waiter.resolve(found.get(waiter.id));
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
    group.busy = false;
    groups.delete(key);
  }

  return {
    read(key, id) {
      return new Promise((resolve, reject) => {
        let group = groups.get(key);
        if (!group) groups.set(key, group = { waiting: [], busy: false });
        group.waiting.push({ id, resolve, reject });
        if (group.busy) return;
        group.busy = true;
        const scheduled = group;
        setImmediate(() => drain(key, scheduled));
      });
    },
  };
}
