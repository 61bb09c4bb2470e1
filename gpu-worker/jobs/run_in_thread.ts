/**
 * `runEdit` in its own thread (edit_thread.ts): the same pipeline and the same results as `profs edit`, while
 * the calling event loop stays free for heartbeats and HTTP. Aborting the signal terminates the thread at once —
 * even inside a long synchronous step — and rejects with the signal's reason; runEdit's output lives under the
 * caller's scratch directory, which the caller removes.
 */
import type { EditHooks, EditOutcome } from "../edit/pipeline.ts";
import type { Logger } from "../../shared/log.ts";
import {
  deserializeError,
  type ThreadEditOptions,
  type ThreadRequest,
  type ThreadResponse,
} from "./thread_messages.ts";

export function runEditInThread(
  options: ThreadEditOptions,
  hooks: EditHooks & { logger: Logger },
): Promise<EditOutcome> {
  const { signal, onProgress, logger } = hooks;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const thread = new Worker(new URL("./edit_thread.ts", import.meta.url), { type: "module" });
  return new Promise<EditOutcome>((resolve, reject) => {
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
      if (message.type === "progress") onProgress?.(message.stage, message.done, message.total);
      else if (message.type === "log") logger[message.level](message.msg, message.fields);
      else if (message.type === "done") settle(() => resolve(message.outcome));
      else settle(() => reject(deserializeError(message.error)));
    };
    thread.onerror = (event) => {
      event.preventDefault();
      settle(() => reject(new Error(`edit thread crashed: ${event.message}`)));
    };
    thread.postMessage({ type: "run", options } satisfies ThreadRequest);
  });
}
