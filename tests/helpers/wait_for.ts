/**
 * The one way tests wait: `waitFor(cond, { deadline })` re-evaluates `cond` until it returns something other
 * than `undefined`, `null` or `false` and returns that, or fails after `deadline` ms with `message` and the last
 * thing `cond` returned or threw. Tests wait for a state they can observe (a row, a response, a signal), never
 * for a fixed time.
 */
export interface WaitOptions {
  /** Milliseconds before giving up; default 30 s (generous: the machine may be loaded, a pass is quick). */
  deadline?: number;
  /** Milliseconds between two evaluations; default 20. */
  intervalMs?: number;
  /** What was awaited, for the failure message. */
  message?: string;
}

export async function waitFor<T>(
  cond: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + (options.deadline ?? 30_000);
  const intervalMs = options.intervalMs ?? 20;
  let last: unknown;
  for (;;) {
    try {
      const value = await cond();
      if (value !== undefined && value !== null && value !== false) {
        return value as Exclude<T, undefined | null | false>;
      }
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(
        `waitFor: ${options.message ?? "condition"} did not hold within ${options.deadline ?? 30_000} ms ` +
          `(last: ${seen})`,
        { cause: last },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The terminal statuses a job ends in. */
export const FINISHED = ["succeeded", "failed", "canceled"];
