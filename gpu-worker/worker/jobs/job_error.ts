/**
 * What a failed job tells its user, and whether trying again can help: one pure decision from the thrown value.
 *
 * - The user's input is wrong (`InputError`: a bad model folder, a malformed dataset, a layer range past the
 *   model): the same input fails the same way, so the job fails at once — no retry storm.
 * - The GPU ran out of memory: the same job on the same kind of worker needs the same memory, so it fails with
 *   advice (fewer pairs, shorter texts) instead of being retried.
 * - The GPU device was lost (driver reset, another process took the device): transient, retried on a fresh device.
 * - Anything else (a database or disk hiccup, a bug) is retried with backoff up to the job's attempt limit, and
 *   its last message is kept.
 */
import { InputError } from "../../../shared/errors.ts";
import { DeviceLostError, KernelError } from "../../runtime/errors.ts";

export type JobErrorCode = "bad_input" | "out_of_memory" | "device_lost" | "gpu_error" | "internal";

export interface ClassifiedError {
  code: JobErrorCode;
  /** Shown to the user as the job's error. */
  message: string;
  retryable: boolean;
}

const OUT_OF_MEMORY = /out of memory|out-of-memory|allocation failed|OutOfMemory/i;

export function classifyJobError(error: unknown): ClassifiedError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof InputError) return { code: "bad_input", message, retryable: false };
  if (error instanceof DeviceLostError) {
    return {
      code: "device_lost",
      message: `The GPU device was lost while the job ran; it will be retried on a fresh device (${message})`,
      retryable: true,
    };
  }
  if (OUT_OF_MEMORY.test(message) || error instanceof RangeError && /buffer/i.test(message)) {
    return {
      code: "out_of_memory",
      message: "Cannot run the job as the worker ran out of memory: use fewer pairs ('max_pairs'), shorter " +
        `texts ('max_tokens') or a worker with more GPU memory (${message})`,
      retryable: false,
    };
  }
  if (error instanceof KernelError) {
    return { code: "gpu_error", message: `A GPU kernel failed: ${message}`, retryable: true };
  }
  return { code: "internal", message: `Internal error: ${message}`, retryable: true };
}
