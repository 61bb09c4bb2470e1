/**
 * What a failed job tells its user, and whether trying again can help: one pure decision from the thrown value.
 *
 * - The user's input is wrong (`InputError`: a bad model folder, a malformed dataset, a layer range past the
 *   model): the same input fails the same way, so the job fails at once — no retry storm.
 * - The GPU ran out of memory: the same job on the same kind of worker needs the same memory, so it fails with
 *   advice (fewer pairs, shorter texts) instead of being retried.
 * - The worker's disk is too full for the output (`DiskSpaceError`, an InputError in the CLI): the machine's
 *   problem, not the job's — retried, maybe on another worker.
 * - The Hugging Face Hub could not be reached or answered 5xx (`HubUnavailableError`, an import): retried; the
 *   message (the Hub's address and status, no secret) is shown.
 * - The GPU device was lost (driver reset, another process took the device): transient, retried on a fresh device.
 * - Anything else (a database or disk hiccup, a bug) is retried with backoff up to the job's attempt limit.
 *
 * Only InputError messages (DiskSpaceError's included), written for the user, reach the tenant verbatim; the
 * others are worded here and their raw message, which can hold SQL, lease tokens or server paths, goes to the
 * worker's log only (`detail`).
 */
import { DiskSpaceError, InputError } from "../../../shared/errors.ts";
import { HubUnavailableError } from "../../../shared/model/hub.ts";
import { DeviceLostError, KernelError } from "../../runtime/errors.ts";

export type JobErrorCode =
  | "bad_input"
  | "no_disk_space"
  | "out_of_memory"
  | "device_lost"
  | "hub_unavailable"
  | "gpu_error"
  | "internal";

export interface ClassifiedError {
  code: JobErrorCode;
  /** Shown to the user as the job's error. */
  message: string;
  /** The thrown message, for the worker's log (never shown to the tenant unless it is an InputError's). */
  detail: string;
  retryable: boolean;
}

const OUT_OF_MEMORY = /out of memory|out-of-memory|allocation failed|OutOfMemory/i;

export function classifyJobError(error: unknown): ClassifiedError {
  const detail = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : typeof error;
  if (error instanceof DiskSpaceError) {
    return {
      code: "no_disk_space",
      // DiskSpaceError is an InputError: its message is worded for the user (the free space it needs).
      message: `The worker's disk was too full for the job; it will be retried (${detail})`,
      detail,
      retryable: true,
    };
  }
  if (error instanceof InputError) return { code: "bad_input", message: detail, detail, retryable: false };
  if (error instanceof HubUnavailableError) {
    return {
      code: "hub_unavailable",
      message: `${detail}; the import will be retried`,
      detail,
      retryable: true,
    };
  }
  if (error instanceof DeviceLostError) {
    return {
      code: "device_lost",
      message: "The GPU device was lost while the job ran; it will be retried on a fresh device",
      detail,
      retryable: true,
    };
  }
  if (OUT_OF_MEMORY.test(detail) || error instanceof RangeError && /buffer/i.test(detail)) {
    return {
      code: "out_of_memory",
      message: "Cannot run the job as the worker ran out of memory: use fewer pairs ('max_pairs'), shorter " +
        "texts ('max_tokens') or a worker with more GPU memory",
      detail,
      retryable: false,
    };
  }
  if (error instanceof KernelError) {
    return {
      code: "gpu_error",
      message: `A GPU kernel (${error.kernel}) failed; the job will be retried`,
      detail,
      retryable: true,
    };
  }
  return {
    code: "internal",
    message: `Internal error (${name}) while running the job; it will be retried`,
    detail,
    retryable: true,
  };
}
