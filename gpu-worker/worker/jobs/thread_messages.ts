/**
 * Messages between the worker and a compute thread (compute_thread.ts). Each task names what crosses in, what
 * comes back and the stages its progress reports. Errors cross as plain data and are rebuilt on the worker's side
 * with their class, because the failure classification (job_error.ts) depends on it.
 */
import type { EditOptions, EditOutcome, EditStage } from "../../edit/pipeline.ts";
import type { CheckInputs, CheckOptions, CheckResult, CheckStage } from "../../eval/check.ts";
import type { Evaluation } from "../../eval/evaluate_edit.ts";
import { DiskSpaceError, InputError } from "../../../shared/errors.ts";
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
  | { type: "progress"; stage: ComputeTasks[ComputeKind]["stage"]; done: number; total: number }
  | { type: "log"; level: LogLevel; msg: string; fields: LogFields }
  /** Something the task finished that the worker records as it arrives (a tune's trial). */
  | { type: "record"; record: unknown }
  | { type: "done"; output: ComputeTasks[ComputeKind]["output"] }
  | { type: "error"; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** An InputError (or a subclass): the user's fault. */
  input?: boolean;
  /** KernelError / DeviceLostError: which kernel. */
  kernel?: string;
  reason?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const out: SerializedError = { name: error.name, message: error.message, stack: error.stack };
  if (error instanceof InputError) out.input = true;
  if (error instanceof KernelError) out.kernel = error.kernel;
  if (error instanceof DeviceLostError) out.reason = error.reason;
  return out;
}

/** The error with its class back (InputError, DeviceLostError, KernelError, RangeError, or Error). */
export function deserializeError(data: SerializedError): Error {
  let error: Error;
  if (data.name === "DeviceLostError") {
    error = new DeviceLostError(data.kernel ?? "unknown", data.reason ?? "", data.message);
    error.message = data.message;
  } else if (data.name === "KernelError" || data.kernel !== undefined) {
    error = new KernelError(data.kernel ?? "unknown", "");
    error.message = data.message;
  } else if (data.input) {
    error = data.name === "DiskSpaceError" ? new DiskSpaceError(data.message) : new InputError(data.message);
  } else if (data.name === "RangeError") {
    error = new RangeError(data.message);
  } else {
    error = new Error(data.message);
    error.name = data.name;
  }
  if (data.stack) error.stack = data.stack;
  return error;
}
