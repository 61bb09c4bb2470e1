/**
 * What a failed job tells its user, and whether trying again can help: one pure decision from the thrown value's
 * class — never from its message text. Errors are typed where they arise (shared/errors.ts, runtime/errors.ts,
 * run_in_thread.ts) and keep their class across the compute thread's boundary (thread_messages.ts).
 *
 * - user input (`InputError`: a bad model folder, a malformed dataset, a layer range past the model, a
 *   held-out set with no predicted token): the same input fails the same way, so the job fails at once.
 * - capacity (`CapacityError`: GPU out of memory, a buffer past the adapter's limits, the device budget, the
 *   compute thread's memory budget): the same job on the same kind of worker needs the same memory, so it fails at
 *   once with the error's advice (fewer pairs, shorter texts).
 * - the worker's disk too full for the output (`DiskSpaceError`, an InputError in the CLI): the machine's
 *   problem, not the job's — retried, maybe on another worker.
 * - the Hugging Face Hub unreachable or answering 5xx (`HubUnavailableError`, an import): retried; the message
 *   (the Hub's address and status, no secret) is shown.
 * - device (`DeviceLostError`, `KernelError`): transient, retried on a fresh device.
 * - a compute thread that died without an answer (`ThreadLostError`): retried, and counted as a lost attempt —
 *   the queue fails a job that lost two attempts as the user's (shared/db/poison.ts).
 * - anything else (a database or disk hiccup, a bug): internal, retried with backoff up to the attempt limit.
 *
 * Only InputError messages (CapacityError's and DiskSpaceError's included), written for the user, reach the
 * tenant verbatim; the others are worded here and their raw message, which can hold SQL, lease tokens or server
 * paths, goes to the worker's log only (`detail`).
 */
import { CapacityError, DiskSpaceError, InputError } from "../../../shared/errors.ts";
import { HubUnavailableError } from "../../../shared/model/hub.ts";
import { DeviceLostError, KernelError } from "../../runtime/errors.ts";
import { ThreadLostError } from "./thread_lost.ts";

/** The four classes of failure; each decides retrying the same way. */
export type JobErrorClass = "user_input" | "capacity" | "device" | "internal";

export type JobErrorCode =
  | "bad_input"
  | "no_disk_space"
  | "capacity"
  | "device_lost"
  | "hub_unavailable"
  | "gpu_error"
  | "thread_lost"
  | "internal";

export interface ClassifiedError {
  code: JobErrorCode;
  class: JobErrorClass;
  /** Shown to the user as the job's error. */
  message: string;
  /** The thrown message, for the worker's log (never shown to the tenant unless it is an InputError's). */
  detail: string;
  retryable: boolean;
  /** The attempt died without its compute answering (a lost attempt: counts toward the poison rule). */
  lost: boolean;
}

export function classifyJobError(error: unknown): ClassifiedError {
  const detail = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : typeof error;
  const base = { detail, lost: false };
  switch (true) {
    case error instanceof CapacityError:
      return { ...base, code: "capacity", class: "capacity", message: detail, retryable: false };
    case error instanceof DiskSpaceError:
      return {
        ...base,
        code: "no_disk_space",
        class: "capacity",
        // DiskSpaceError is an InputError: its message is worded for the user (the free space it needs).
        message: `The worker's disk was too full for the job; it will be retried (${detail})`,
        retryable: true,
      };
    case error instanceof InputError:
      return { ...base, code: "bad_input", class: "user_input", message: detail, retryable: false };
    case error instanceof HubUnavailableError:
      return {
        ...base,
        code: "hub_unavailable",
        class: "internal",
        message: `${detail}; the import will be retried`,
        retryable: true,
      };
    case error instanceof DeviceLostError:
      return {
        ...base,
        code: "device_lost",
        class: "device",
        message: "The GPU device was lost while the job ran; it will be retried on a fresh device",
        retryable: true,
      };
    case error instanceof KernelError:
      return {
        ...base,
        code: "gpu_error",
        class: "device",
        message: `A GPU kernel (${error.kernel}) failed; the job will be retried`,
        retryable: true,
      };
    case error instanceof ThreadLostError:
      return {
        ...base,
        code: "thread_lost",
        class: "internal",
        message: "The job's compute thread stopped without an answer; the job will be retried",
        retryable: true,
        lost: true,
      };
    default:
      return {
        ...base,
        code: "internal",
        class: "internal",
        message: `Internal error (${name}) while running the job; it will be retried`,
        retryable: true,
      };
  }
}
