/**
 * Awaiting under an AbortSignal: `untilAborted(work, signal)` settles with `work`, or rejects with the signal's
 * reason as soon as it aborts — so a caller is never held by a promise that cannot be cancelled (another thread's
 * answer, a device's map, an upload). The work itself is not stopped: its owner ends it (terminates the thread,
 * destroys the device); a late rejection of `work` is swallowed.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
