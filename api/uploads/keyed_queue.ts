/**
 * One at a time per key, in this process: `acquire(key)` resolves when every earlier holder of the key released
 * it (first come, first served) and returns the release. Uploads of one model file publish through it, so within
 * a process they wait in line instead of polling the database's claim (which still orders writers across
 * processes).
 */
export type KeyedQueue = (key: string) => Promise<() => void>;

export function createKeyedQueue(): KeyedQueue {
  const tails = new Map<string, Promise<void>>();
  return async (key) => {
    const previous = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => release = resolve);
    const tail = previous.then(() => mine);
    tails.set(key, tail);
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (tails.get(key) === tail) tails.delete(key);
    };
  };
}
