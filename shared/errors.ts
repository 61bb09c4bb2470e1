/**
 * Errors shared by the API, the worker and the CLI.
 *
 * `InputError` is the user's fault (a malformed file, a bad flag, an unsupported model): its message is written
 * for them and shown as is — one line in the CLI, the `detail` of a 4xx problem+json over HTTP. Anything else
 * that escapes is a bug or an outage and is reported as such.
 */
export class InputError extends Error {
  override name = "InputError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * A subspace iteration hit its iteration cap before the subspace settled: the result would be an arbitrary
 * subspace, so it is never used as an edit. It is an `InputError` on purpose: the iteration is deterministic
 * (same embeddings, rank, seed, tolerance and cap give the same iterates on the same backend), so a retry fails
 * the same way, and what changes the outcome is the user's to choose (a lower rank, more pairs, a larger
 * 'maxIterations' or a looser 'tolerance'). The message names the block (once the pipeline knows it), the
 * iterations run and the residual reached.
 */
export class ConvergenceError extends InputError {
  override name = "ConvergenceError";
  constructor(
    readonly details: {
      /** What was being computed, e.g. "the toxic subspace (rank 8)". */
      what: string;
      iterations: number;
      /** Sine of the largest principal angle between the last two iterates. */
      residual: number;
      tolerance: number;
      /** The edited block, when known. */
      block?: number;
    },
  ) {
    const where = details.block === undefined ? "" : ` of block ${details.block}`;
    super(
      `Cannot compute ${details.what}${where} as the subspace iteration must converge within ${details.iterations} ` +
        `iterations: the residual (sine of the largest angle between the last two iterates) is ` +
        `${details.residual.toExponential(2)}, the tolerance ${
          details.tolerance.toExponential(2)
        }; use a lower ` +
        `rank or more pairs, or raise the iteration cap`,
    );
  }

  /** The same error naming the edited block. */
  inBlock(block: number): ConvergenceError {
    return new ConvergenceError({ ...this.details, block });
  }
}

/** What ran out: a job needs more of it than the worker has (or is allowed to use). */
export type CapacityResource =
  /** GPU memory: a buffer the device could not allocate, an out-of-memory error scope, the device budget. */
  | "device_memory"
  /** One GPU buffer or binding larger than the adapter allows. */
  | "device_buffer"
  /** The compute thread's memory budget (PROFS_WORKER_MEMORY_MB): its JavaScript heap or its estimated arrays. */
  | "worker_memory";

/**
 * The job needs more than the worker has: GPU memory (an out-of-memory error scope, a buffer the device cannot
 * allocate, the device budget), a buffer past the adapter's limits, or the compute thread's memory budget. The
 * same job on the same kind of worker needs the same memory, so it is not retried: its message, written for the
 * user, says what to reduce. It is an `InputError` so the CLI prints it as one line; the worker tells it apart by
 * its class (never by its message), before InputError.
 */
export class CapacityError extends InputError {
  override name = "CapacityError";
  constructor(readonly resource: CapacityResource, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The message of an unknown thrown value, for logs and error chains. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Too little free disk for what a command must write: the user's to fix on their machine (one line in the CLI),
 * but on a worker the machine's, not the job's — another attempt, maybe on another worker, may have the room.
 */
export class DiskSpaceError extends InputError {
  override name = "DiskSpaceError";
}

/** A command stopped by SIGINT or SIGTERM after cleaning up; the CLI exits with 128 + the signal's number. */
export class Interrupted extends Error {
  override name = "Interrupted";
  readonly exitCode: number;
  constructor(readonly signal: "SIGINT" | "SIGTERM", message = `interrupted by ${signal}`) {
    super(message);
    this.exitCode = 128 + (signal === "SIGINT" ? 2 : 15);
  }
}

/**
 * Runs `fn` with a signal that SIGINT or SIGTERM aborts with an `Interrupted` reason, so the command can remove
 * what it half wrote before the process exits; the listeners go when `fn` settles.
 */
export async function withInterrupts<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const listeners = (["SIGINT", "SIGTERM"] as const).map((name) => {
    const listener = () => controller.abort(new Interrupted(name));
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  try {
    return await fn(controller.signal);
  } finally {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  }
}
