/**
 * Messages between the worker and a compute thread (compute_thread.ts). Each task names what crosses in, what
 * comes back and the stages its progress reports. Errors cross as plain data tagged with their class (decided by
 * `instanceof` in the thread) and are rebuilt from that tag on the worker's side, because the failure
 * classification (job_error.ts) depends on the class, never on the message.
 */
import type { EditOptions, EditOutcome, EditStage, WeightFile } from "../../edit/pipeline.ts";
import type { CheckInputs, CheckOptions, CheckResult, CheckStage } from "../../eval/check.ts";
import type { Evaluation } from "../../eval/evaluate_edit.ts";
import { CapacityError, type CapacityResource, DiskSpaceError, InputError } from "../../../shared/errors.ts";
import type { LogFields, LogLevel } from "../../../shared/log.ts";
import type { BackendName } from "../../profs/select.ts";
import type { TrialRecord, TuneInput, TuneResult, TuneStage } from "../../tune/tune.ts";
import { DeviceLostError, KernelError } from "../../runtime/errors.ts";
import type { ComputeBackend } from "../../runtime/backends.ts";

/** runEdit's options that can cross a thread boundary: a backend by name, no logger, no callbacks. */
export type ThreadEditOptions = Omit<EditOptions, "backend" | "logger" | "freeBytes"> & {
  backend: BackendName;
};

/**
 * runTune's input that can cross: a backend by name; `recorded` holds the trials earlier attempts recorded (the
 * thread's trial store starts from them, and each newly finished trial comes back as a `record` message).
 */
export type ThreadTuneInput = Omit<TuneInput, "backend"> & { backend: BackendName; recorded: TrialRecord[] };

/** A check's options that can cross: no callbacks and no signal (aborting terminates the thread). */
export type ThreadCheckOptions = Omit<CheckOptions, "onProgress" | "signal">;

/** The compute tasks a thread runs; the toxicity scorer is built inside the thread (`scorerFromEnv()`). */
export interface ComputeTasks {
  /** `runEdit`, the pipeline of `profs edit`. */
  edit: { input: ThreadEditOptions; output: EditOutcome; stage: EditStage };
  /** `evaluateEdit`: the check on the base model, then on the edited one against the base. */
  "evaluate-edit": {
    input: {
      baseDir: string;
      editedDir: string;
      backend: ComputeBackend;
      inputs: CheckInputs;
      check: ThreadCheckOptions;
    };
    output: Evaluation;
    stage: CheckStage;
  };
  /** `runTune`: the search, then the chosen edit; finished trials come back as `record` messages. */
  tune: { input: ThreadTuneInput; output: TuneResult; stage: TuneStage };
  /** `checkModel`: the check on one model alone. */
  "check-model": {
    input: { modelDir: string; backend: ComputeBackend; inputs: CheckInputs; check: ThreadCheckOptions };
    output: CheckResult;
    stage: CheckStage;
  };
}

export type ComputeKind = keyof ComputeTasks;

/** Sent once: the task the thread runs. */
export type ThreadRequest = { [K in ComputeKind]: { kind: K; input: ComputeTasks[K]["input"] } }[ComputeKind];

export type ThreadResponse =
  /** Sent every second while the thread's event loop turns: the watchdog's sign of life (run_in_thread.ts). */
  | { type: "tick" }
  /** The thread's heap reached its cap (PROFS_WORKER_MEMORY_MB) and its task was ended: a capacity error. */
  | { type: "heap_limit" }
  | { type: "progress"; stage: ComputeTasks[ComputeKind]["stage"]; done: number; total: number }
  | { type: "log"; level: LogLevel; msg: string; fields: LogFields }
  /** An edit's weight files as they start streaming out (`EditHooks.onWeightFiles`). */
  | { type: "weight-files"; files: WeightFile[] }
  /** An edit's weight file is final below `upTo` (`EditHooks.onWeightWritten`). */
  | { type: "weight-written"; name: string; upTo: number }
  /** Something the task finished that the worker records as it arrives (a tune's trial). */
  | { type: "record"; record: unknown }
  | { type: "done"; output: ComputeTasks[ComputeKind]["output"] }
  | { type: "error"; error: SerializedError };

/** The error's class, decided by `instanceof` on the thread's side: what classification needs, carried as data. */
export type SerializedErrorType = "capacity" | "disk_space" | "input" | "device_lost" | "kernel" | "other";

export interface SerializedError {
  type: SerializedErrorType;
  name: string;
  message: string;
  stack?: string;
  /** CapacityError: what ran out. */
  resource?: CapacityResource;
  /** KernelError / DeviceLostError: which kernel. */
  kernel?: string;
  /** DeviceLostError: the device's reason. */
  reason?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { type: "other", name: "Error", message: String(error) };
  const common = { name: error.name, message: error.message, stack: error.stack };
  if (error instanceof CapacityError) return { ...common, type: "capacity", resource: error.resource };
  if (error instanceof DiskSpaceError) return { ...common, type: "disk_space" };
  if (error instanceof InputError) return { ...common, type: "input" };
  if (error instanceof DeviceLostError) {
    return { ...common, type: "device_lost", kernel: error.kernel, reason: error.reason };
  }
  if (error instanceof KernelError) return { ...common, type: "kernel", kernel: error.kernel };
  return { ...common, type: "other" };
}

/** The error with its class back, from its `type` (the name is only kept for messages and logs). */
export function deserializeError(data: SerializedError): Error {
  let error: Error;
  switch (data.type) {
    case "capacity":
      error = new CapacityError(data.resource ?? "worker_memory", data.message);
      break;
    case "disk_space":
      error = new DiskSpaceError(data.message);
      break;
    case "input":
      error = new InputError(data.message);
      break;
    case "device_lost":
      error = new DeviceLostError(data.kernel ?? "unknown", data.reason ?? "", "");
      break;
    case "kernel":
      error = new KernelError(data.kernel ?? "unknown", "");
      break;
    default:
      error = new Error(data.message);
  }
  error.message = data.message;
  error.name = data.name;
  if (data.stack) error.stack = data.stack;
  return error;
}
