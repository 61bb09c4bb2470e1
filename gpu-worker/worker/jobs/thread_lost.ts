/**
 * A compute thread that ended without answering: it crashed (an uncaught error outside the task, a native
 * fault) or stopped responding (run_in_thread.ts's watchdog). The attempt is lost rather than failed: the worker
 * retries it and the queue counts it, like a worker process that died (shared/db/poison.ts).
 */
export class ThreadLostError extends Error {
  override name = "ThreadLostError";
  constructor(readonly task: string, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot finish the ${task} task as its compute thread ${reason}`, options);
  }
}
