/**
 * The compute thread's memory budget: its JavaScript heap (strings, objects, a tokenizer's tables; not the typed
 * arrays that hold weights and activations, which live outside the heap) is capped at PROFS_WORKER_MEMORY_MB
 * (default 2048 MiB), so a job that would grow it without bound ends its thread, never the worker process.
 */
import { InputError } from "../../../shared/errors.ts";

export const WORKER_MEMORY_ENV = "PROFS_WORKER_MEMORY_MB";
export const DEFAULT_WORKER_MEMORY_MB = 2048;

/** The budget in MiB from PROFS_WORKER_MEMORY_MB (an integer ≥ 64), else the default. */
export function workerMemoryMb(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): number {
  const raw = env(WORKER_MEMORY_ENV);
  if (raw === undefined || raw.trim() === "") return DEFAULT_WORKER_MEMORY_MB;
  const mb = Number(raw);
  if (!Number.isInteger(mb) || mb < 64) {
    throw new InputError(
      `Cannot start a compute thread as ${WORKER_MEMORY_ENV} must be an integer ≥ 64: it is '${raw}'`,
    );
  }
  return mb;
}
