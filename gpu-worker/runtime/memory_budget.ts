/**
 * The compute memory budget, PROFS_WORKER_MEMORY_MB (default 4096 MiB): a worker's compute thread runs with its
 * JavaScript heap capped at it (strings, parsed JSON, a tokenizer's tables: worker/jobs/run_in_thread.ts), and
 * the arrays that grow with a job's input rather than with its model — the pooled embeddings of every pair at
 * every block — are checked against it by a worker before they are allocated (`checkMemoryBudget`; the CLI,
 * whose user owns the machine, does not check), so a job too large for the worker fails as the user's
 * `CapacityError` naming the input and the limit instead of taking the process down. Weights are the model's
 * size, bounded by the model folder the worker was given, and are not counted.
 */
import { CapacityError, InputError } from "../../shared/errors.ts";

export const WORKER_MEMORY_ENV = "PROFS_WORKER_MEMORY_MB";
export const DEFAULT_WORKER_MEMORY_MB = 4096;

/** The budget in MiB from PROFS_WORKER_MEMORY_MB (an integer ≥ 64), else the default. */
export function workerMemoryMb(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): number {
  const raw = env(WORKER_MEMORY_ENV);
  if (raw === undefined || raw.trim() === "") return DEFAULT_WORKER_MEMORY_MB;
  const mb = Number(raw);
  if (!Number.isInteger(mb) || mb < 64) {
    throw new InputError(
      `Cannot run compute as ${WORKER_MEMORY_ENV} must be an integer ≥ 64: it is '${raw}'`,
    );
  }
  return mb;
}

/** Refuses, before allocating, `bytes` of input-sized arrays past the budget (default PROFS_WORKER_MEMORY_MB). */
export function checkMemoryBudget(
  bytes: number,
  what: string,
  advice: string,
  budgetMb: number = workerMemoryMb(),
): void {
  const budget = budgetMb * 1024 ** 2;
  if (bytes > budget) {
    throw new CapacityError(
      "worker_memory",
      `Cannot compute ${what} as its ${bytes} bytes must fit the worker's memory budget of ${budgetMb} MiB ` +
        `(${WORKER_MEMORY_ENV}): ${advice}`,
    );
  }
}
