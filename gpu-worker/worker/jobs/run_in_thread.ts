/**
 * A compute task (thread_messages.ts: an edit, an edit's evaluation, a model's check) in its own thread
 * (compute_thread.ts): the same code and the same results as on the calling thread, while the calling event loop
 * stays free for heartbeats and HTTP. Aborting the signal terminates the thread at once — even inside a long
 * synchronous step — and rejects with the signal's reason; whatever the task wrote lives under the caller's
 * scratch directory, which the caller removes. The promise settles on the thread's answer, its crash, an
 * unreadable message or the signal — nothing else can hold it — and the worker's signal carries the job's time
 * limit, so a thread that stops answering is ended too.
 */
import type { Logger } from "../../../shared/log.ts";
import {
  type ComputeKind,
  type ComputeTasks,
  deserializeError,
  type ThreadRequest,
  type ThreadResponse,
} from "./thread_messages.ts";

export interface ThreadHooks<K extends ComputeKind> {
  signal?: AbortSignal;
  onProgress?: (stage: ComputeTasks[K]["stage"], done: number, total: number) => void;
  /** Receives the thread's log lines. */
  logger: Logger;
  /** Receives what the task records as it goes (a tune's finished trials), in order. */
  onRecord?: (record: unknown) => void;
}

export function runInThread<K extends ComputeKind>(
  kind: K,
  input: ComputeTasks[K]["input"],
  hooks: ThreadHooks<K>,
): Promise<ComputeTasks[K]["output"]> {
  const { signal, onProgress, logger } = hooks;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const thread = new Worker(new URL("./compute_thread.ts", import.meta.url), { type: "module" });
  return new Promise<ComputeTasks[K]["output"]>((resolve, reject) => {
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      thread.terminate();
      finish();
    };
    const onAbort = () => settle(() => reject(signal!.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    thread.onmessage = (event: MessageEvent<ThreadResponse>) => {
      const message = event.data;
      if (message.type === "progress") {
        onProgress?.(message.stage as ComputeTasks[K]["stage"], message.done, message.total);
      } else if (message.type === "log") logger[message.level](message.msg, message.fields);
      else if (message.type === "record") hooks.onRecord?.(message.record);
      else if (message.type === "done") settle(() => resolve(message.output as ComputeTasks[K]["output"]));
      else settle(() => reject(deserializeError(message.error)));
    };
    thread.onerror = (event) => {
      event.preventDefault();
      settle(() => reject(new Error(`${kind} thread crashed: ${event.message}`)));
    };
    // A message that cannot be deserialized would otherwise be dropped, and the task never settle.
    thread.onmessageerror = () =>
      settle(() => reject(new Error(`${kind} thread sent a message that cannot be read`)));
    thread.postMessage({ kind, input } as ThreadRequest);
  });
}
