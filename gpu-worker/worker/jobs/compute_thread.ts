/**
 * The body of a compute thread (a `node:worker_threads` thread with a heap cap, started by run_in_thread.ts):
 * runs one task of thread_messages.ts (an edit, an edit's evaluation, a model's check) off the worker's event
 * loop, so heartbeats, cancellation and — in `profs serve` — the API keep running however long a synchronous
 * compute step takes. Message in: the task, once. Messages out: a `tick` every second while the event loop
 * turns (the watchdog's sign of life; `heap_limit` instead once the heap cap was hit), `progress`, `log`, an
 * edit's `weight-files`, then `done` or `error`. There is no abort message:
 * the worker terminates the thread.
 */
import { getHeapStatistics } from "node:v8";
import { parentPort } from "node:worker_threads";
import { startStreamThreads } from "../../edit/stream_threads.ts";
import type { LogFields, Logger, LogLevel } from "../../../shared/log.ts";
import {
  type ComputeKind,
  type ComputeTasks,
  serializeError,
  type ThreadRequest,
  type ThreadResponse,
} from "./thread_messages.ts";
import { progressThrottle } from "./progress.ts";

const port = parentPort!;
const post = (message: ThreadResponse) => port.postMessage(message);

/**
 * When the heap reaches its cap inside a callback, Deno ends the running JavaScript (the task's promise never
 * settles) but keeps the thread's event loop, and raises the heap limit to let it unwind; a larger limit than
 * the thread started with is the sign. The tick reports it, so the task fails as a capacity error at once.
 */
const startLimit = getHeapStatistics().heap_size_limit;
const ticker = setInterval(() => {
  if (getHeapStatistics().heap_size_limit > startLimit) {
    clearInterval(ticker);
    post({ type: "heap_limit" });
  } else post({ type: "tick" });
}, 1_000);

/**
 * An edit's stream threads, started with this thread: created from here, a thread takes about 0.5 s to start
 * (stream_threads.ts `startStreamThreads`), which then passes while the worker resolves the job's inputs and the
 * edit reads its headers. Any other task ends them at once.
 */
const streamThreads = startStreamThreads();
/** The edit pipeline's modules, loading from the start too (a static import would run before the line above). */
const pipeline = import("../../edit/pipeline.ts");
pipeline.catch(() => {}); // a failed load fails the edit that awaits it, not another task
function endStreamThreads(): void {
  streamThreads.writer.terminate();
  streamThreads.hasher.terminate();
}

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

/**
 * Progress goes to the worker under the rule its reporter applies (progress.ts), with a shorter interval: an
 * edit reports each of its hundreds of tensors, and each message wakes the worker's thread.
 */
const progressPasses = progressThrottle(50);

function onProgress(stage: ComputeTasks[ComputeKind]["stage"], done: number, total: number): void {
  if (progressPasses(stage, done, total)) post({ type: "progress", stage, done, total });
}

/**
 * The checks' and tunes' modules (the LM engine, the scorer, the search) load only for a task that runs them: an
 * edit's thread is lighter.
 */
async function compute(request: ThreadRequest): Promise<ComputeTasks[ComputeKind]["output"]> {
  if (request.kind === "edit") {
    try {
      const { runEdit } = await pipeline;
      return await runEdit({ ...request.input, logger: threadLogger() }, {
        onProgress,
        onWeightFiles: (files) => post({ type: "weight-files", files }),
        onWeightWritten: (name, upTo) => post({ type: "weight-written", name, upTo }),
        streamThreads,
      });
    } finally {
      endStreamThreads();
    }
  }
  endStreamThreads();
  const [{ checkModel, evaluateEdit }, { scorerFromEnv }] = await Promise.all([
    import("../../eval/evaluate_edit.ts"),
    import("../../../shared/toxicity/from_env.ts"),
  ]);
  switch (request.kind) {
    case "evaluate-edit":
      return evaluateEdit({
        baseDir: request.input.baseDir,
        editedDir: request.input.editedDir,
        backend: request.input.backend,
        scorer: scorerFromEnv(),
        inputs: request.input.inputs,
        check: { ...request.input.check, onProgress },
      });
    case "tune": {
      const [{ runTune }, { memoryTrialStore }] = await Promise.all([
        import("../../tune/tune.ts"),
        import("../../tune/store.ts"),
      ]);
      const { recorded, ...input } = request.input;
      // Trials start from those earlier attempts recorded; each new one goes to the worker, which writes it to
      // the job's events before the next finishes.
      const store = memoryTrialStore(recorded);
      return runTune({ ...input }, {
        store: {
          load: store.load,
          append: (trial) => {
            post({ type: "record", record: trial });
            return store.append(trial);
          },
        },
        scorer: input.challengePrompts?.length ? scorerFromEnv() : undefined,
        logger: threadLogger(),
        onProgress: (p) => onProgress(p.stage, p.done, p.total),
      });
    }
    case "check-model":
      return checkModel({
        dir: request.input.modelDir,
        backend: request.input.backend,
        scorer: scorerFromEnv(),
        inputs: request.input.inputs,
        check: { ...request.input.check, onProgress },
      });
  }
}

port.once("message", async (request: ThreadRequest) => {
  try {
    post({ type: "done", output: await compute(request) });
  } catch (error) {
    post({ type: "error", error: serializeError(error) });
  }
});
