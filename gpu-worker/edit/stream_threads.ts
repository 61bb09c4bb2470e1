/**
 * The two threads of a model stream (write_model.ts): write_thread.ts copies and hashes the input, hash_thread.ts
 * hashes the output. A module of its own, importing nothing, so that a caller can start them before it loads
 * anything else.
 */

/** A stream's threads, each good for one stream. */
export interface StreamThreads {
  writer: Worker;
  hasher: Worker;
}

/**
 * Starts a stream's two threads, ahead of the stream for a caller that knows one will come: a thread started
 * from a `node:worker_threads` thread (the worker's compute thread) runs its first line about 0.5 s after it was
 * created (Deno 2.9; 35 ms from the main thread), which the edit would otherwise wait at its start.
 */
export function startStreamThreads(): StreamThreads {
  return {
    writer: new Worker(new URL("./write_thread.ts", import.meta.url), { type: "module" }),
    hasher: new Worker(new URL("./hash_thread.ts", import.meta.url), { type: "module" }),
  };
}
