/// <reference lib="deno.worker" />
/**
 * The body of an edit thread (a Web Worker started by run_in_thread.ts): runs `runEdit` off the worker's event
 * loop, so heartbeats, cancellation and — in `profs serve` — the API keep running however long a synchronous
 * compute step takes. Messages in: `run` (once), `abort`. Messages out: `progress`, `log`, then `done` or `error`.
 */
import { runEdit } from "../edit/pipeline.ts";
import type { LogFields, Logger, LogLevel } from "../../shared/log.ts";
import { serializeError, type ThreadRequest, type ThreadResponse } from "./thread_messages.ts";

const controller = new AbortController();
const post = (message: ThreadResponse) => self.postMessage(message);

function threadLogger(base: LogFields = {}): Logger {
  const emit = (level: LogLevel) => (msg: string, fields: LogFields = {}) =>
    post({ type: "log", level, msg, fields: { ...base, ...fields } });
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => threadLogger({ ...base, ...fields }),
  };
}

self.onmessage = async (event: MessageEvent<ThreadRequest>) => {
  const request = event.data;
  if (request.type === "abort") {
    controller.abort();
    return;
  }
  try {
    const outcome = await runEdit({ ...request.options, logger: threadLogger() }, {
      signal: controller.signal,
      onProgress: (stage, done, total) => post({ type: "progress", stage, done, total }),
    });
    post({ type: "done", outcome });
  } catch (error) {
    post({ type: "error", error: serializeError(error) });
  }
};
