/**
 * A file another thread is still writing, as a stream of its bytes up to the size it will have (an edit's weight
 * file: EditHooks.onWeightFiles). The stream reads what is final — below the writer's watermark `final()` when
 * given (a writer that fills the file out of order, as an edit's does), else what the file holds — waits
 * `pollMs` at the end of that (or for the file to appear: `path` may be a function, asked again until it
 * opens), and ends once `size` bytes were read — so an upload can run while the file is written instead of after. The writer's failure must be said by aborting `signal`: the
 * stream then errors with the signal's reason (an upload fed by it is abandoned, storing nothing).
 */
export interface FollowOptions {
  /** Bytes per read; default 4 MiB. */
  chunkBytes?: number;
  /** Wait at the end of the written bytes before reading again; default 20 ms. */
  pollMs?: number;
  /** The writer's watermark: bytes below it are final. Default: every byte the file holds (an appending writer). */
  final?: () => number;
}

export function followFile(
  path: string | (() => string),
  size: number,
  signal: AbortSignal,
  options: FollowOptions = {},
): ReadableStream<Uint8Array> {
  const chunkBytes = options.chunkBytes ?? 4 << 20;
  const pollMs = options.pollMs ?? 20;
  let file: Deno.FsFile | null = null;
  let position = 0;
  const close = () => {
    file?.close();
    file = null;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          signal.throwIfAborted();
          if (position >= size) {
            close();
            controller.close();
            return;
          }
          file ??= await openIfExists(typeof path === "string" ? path : path());
          const ready = Math.min(size, options.final?.() ?? size) - position;
          if (file && ready > 0) {
            const buffer = new Uint8Array(Math.min(chunkBytes, ready));
            const n = await file.read(buffer);
            if (n !== null && n > 0) {
              position += n;
              controller.enqueue(buffer.subarray(0, n));
              return;
            }
          }
          await pause(pollMs, signal);
          signal.throwIfAborted();
        }
      } catch (error) {
        close();
        throw error;
      }
    },
    cancel: close,
  });
}

async function openIfExists(path: string): Promise<Deno.FsFile | null> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Flushes a file another thread is writing to disk as it grows (an fdatasync each `everyBytes` of final bytes,
 * and once more when all `size` are final), so making it durable once it is complete (shared/blobs/in_place.ts
 * `adoptInPlace`) has nothing or little left to write instead of the whole file: the kernel would otherwise hold
 * a GB-sized model in dirty pages until that last sync. What is final is the writer's watermark `final()` when
 * given (an edit's writer fills the file out of order: it reaches its size long before the edited tensors are
 * in), else what the file holds. Ends after that last flush, or when `signal` aborts (the edit ended either
 * way); a failed sync only ends it early, as the final sync makes the file durable regardless.
 */
export async function syncWhileWritten(
  path: string | (() => string),
  size: number,
  signal: AbortSignal,
  options: { everyBytes?: number; pollMs?: number; final?: () => number } = {},
): Promise<void> {
  const everyBytes = options.everyBytes ?? 128 << 20;
  const pollMs = options.pollMs ?? 100;
  let file: Deno.FsFile | null = null;
  let synced = 0;
  try {
    while (!signal.aborted) {
      file ??= await openIfExists(typeof path === "string" ? path : path());
      const held = file ? (await file.stat()).size : 0;
      const written = Math.min(held, options.final?.() ?? held);
      if (file && (written >= size || written - synced >= everyBytes)) {
        await file.syncData();
        synced = written;
        if (written >= size) return;
      } else await pause(pollMs, signal);
    }
  } catch {
    // The final sync does the work.
  } finally {
    file?.close();
  }
}

/** Waits `ms`, or less when `signal` aborts (its timer cleared, so nothing is left pending). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
