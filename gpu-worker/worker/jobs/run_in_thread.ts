/**
 * A compute task (thread_messages.ts: an edit, an edit's evaluation, a model's check) in its own thread
 * (compute_thread.ts): the same code and the same results as on the calling thread, while the calling event loop
 * stays free for heartbeats and HTTP. Aborting the signal terminates the thread at once — even inside a long
 * synchronous step — and rejects with the signal's reason; whatever the task wrote lives under the caller's
 * scratch directory, which the caller removes.
 *
 * The thread runs under a memory budget: its JavaScript heap is capped (`node:worker_threads` resource limits,
 * PROFS_WORKER_MEMORY_MB), so a job that would grow it without bound ends the thread, not the worker process (a
 * Web Worker's out-of-memory aborts the whole process). Deno reports a thread that hit its cap while running
 * synchronous module code as ERR_WORKER_OUT_OF_MEMORY; one that hit it inside a callback has its JavaScript
 * ended while its event loop goes on, which the thread's ticker notices (compute_thread.ts) — either way a
 * `CapacityError` naming the budget. A watchdog catches a thread that is gone some other way: a live thread posts
 * a tick every second when idle and uses CPU time when busy, so `silenceMs` with neither means it is gone
 * (`ThreadLostError`, a lost attempt). The promise settles on the thread's answer, its crash, its exit, the
 * heap cap, the watchdog, an unreadable message or the signal.
 */
import { Worker as NodeWorker } from "node:worker_threads";
import { CapacityError } from "../../../shared/errors.ts";
import type { Logger } from "../../../shared/log.ts";
import type { WeightFile } from "../../edit/pipeline.ts";
import {
  type ComputeKind,
  type ComputeTasks,
  deserializeError,
  type ThreadRequest,
  type ThreadResponse,
} from "./thread_messages.ts";
import { ThreadLostError } from "./thread_lost.ts";
import { workerMemoryMb } from "../../runtime/memory_budget.ts";

export interface ThreadHooks<K extends ComputeKind> {
  signal?: AbortSignal;
  onProgress?: (stage: ComputeTasks[K]["stage"], done: number, total: number) => void;
  /** Receives the thread's log lines. */
  logger: Logger;
  /** Receives what the task records as it goes (a tune's finished trials), in order. */
  onRecord?: (record: unknown) => void;
  /** The thread's JavaScript heap cap in MiB; default PROFS_WORKER_MEMORY_MB (runtime/memory_budget.ts). */
  memoryMb?: number;
  /** How long a thread may send nothing and use no CPU time before it counts as gone; default 30 s. */
  silenceMs?: number;
  /** An edit's weight files as they start streaming out (EditHooks.onWeightFiles). */
  onWeightFiles?: (files: WeightFile[]) => void;
  /** An edit's weight file is final below `upTo` (EditHooks.onWeightWritten). */
  onWeightWritten?: (name: string, upTo: number) => void;
  /** A thread from `startComputeThread()`, already loading its modules; default a new one. */
  thread?: ComputeThread;
}

/** A compute thread (`node:worker_threads`, so that its heap can be capped). */
export type ComputeThread = NodeWorker;

/**
 * A compute thread with its heap capped at `memoryMb`, started ahead of its task so that it loads its modules
 * while the caller gets the task's inputs ready. Give it to `runInThread` (with the same `memoryMb`), or
 * terminate it.
 */
export function startComputeThread(memoryMb = workerMemoryMb()): ComputeThread {
  return new NodeWorker(new URL("./compute_thread.ts", import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: memoryMb },
  });
}

/** How often the watchdog looks (and the thread ticks, compute_thread.ts). */
const WATCH_MS = 1_000;

export function runInThread<K extends ComputeKind>(
  kind: K,
  input: ComputeTasks[K]["input"],
  hooks: ThreadHooks<K>,
): Promise<ComputeTasks[K]["output"]> {
  const { signal, onProgress, logger } = hooks;
  if (signal?.aborted) {
    hooks.thread?.terminate().catch(() => {});
    return Promise.reject(signal.reason);
  }
  const memoryMb = hooks.memoryMb ?? workerMemoryMb();
  const silenceMs = hooks.silenceMs ?? 30_000;
  const thread = hooks.thread ?? startComputeThread(memoryMb);
  return new Promise<ComputeTasks[K]["output"]>((resolve, reject) => {
    let settled = false;
    let heard = performance.now();
    let cpu = -1;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      signal?.removeEventListener("abort", onAbort);
      thread.terminate().catch(() => {});
      finish();
    };
    const onAbort = () => settle(() => reject(signal!.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    const watchdog = setInterval(async () => {
      // A thread ended by its heap cap may never answer: no answer within the period is no CPU time.
      const usage = await Promise.race([
        thread.cpuUsage().catch(() => null),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), WATCH_MS / 2)),
      ]);
      const used = usage ? usage.user + usage.system : cpu;
      if (cpu >= 0 && used > cpu) heard = performance.now();
      cpu = used;
      if (performance.now() - heard > silenceMs) {
        settle(() =>
          reject(
            new ThreadLostError(
              kind,
              `stopped: no message and no CPU time for ${
                Math.round(silenceMs / 1000)
              } s (likely its memory ` +
                `budget of ${memoryMb} MiB, PROFS_WORKER_MEMORY_MB)`,
            ),
          )
        );
      }
    }, WATCH_MS);
    thread.on("message", (message: ThreadResponse) => {
      heard = performance.now();
      if (message.type === "tick") return;
      if (message.type === "heap_limit") return settle(() => reject(overBudget()));
      if (message.type === "progress") {
        onProgress?.(message.stage as ComputeTasks[K]["stage"], message.done, message.total);
      } else if (message.type === "log") logger[message.level](message.msg, message.fields);
      else if (message.type === "weight-files") hooks.onWeightFiles?.(message.files);
      else if (message.type === "weight-written") hooks.onWeightWritten?.(message.name, message.upTo);
      else if (message.type === "record") hooks.onRecord?.(message.record);
      else if (message.type === "done") settle(() => resolve(message.output as ComputeTasks[K]["output"]));
      else settle(() => reject(deserializeError(message.error)));
    });
    const overBudget = () =>
      new CapacityError(
        "worker_memory",
        `Cannot finish the ${kind} task as its compute thread must stay within its memory budget of ` +
          `${memoryMb} MiB (PROFS_WORKER_MEMORY_MB): use fewer pairs ('max_pairs'), shorter texts ` +
          `('max_tokens') or a smaller dataset`,
      );
    thread.on("error", (error: Error & { code?: string }) => {
      settle(() =>
        reject(
          error.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? overBudget()
            : new ThreadLostError(kind, `crashed: ${error.message}`, { cause: error }),
        )
      );
    });
    thread.on(
      "exit",
      (code: number) => settle(() => reject(new ThreadLostError(kind, `exited (code ${code})`))),
    );
    // A message that cannot be deserialized would otherwise be dropped, and the task never settle.
    thread.on(
      "messageerror",
      () => settle(() => reject(new Error(`${kind} thread sent a message that cannot be read`))),
    );
    thread.postMessage({ kind, input } as ThreadRequest);
  });
}
