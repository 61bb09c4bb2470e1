/**
 * Turns the pipeline's synchronous progress callbacks into fenced job progress writes (the job's `progress`
 * column and a `progress` event each), few enough not to flood the events table: a write when the stage changes,
 * when a stage completes, and otherwise at most one per `intervalMs`. Writes go out one at a time, in order.
 */
export type ProgressWrite = (progress: { stage: string; done: number; total: number }) => Promise<boolean>;

export interface ProgressReporter {
  report(stage: string, done: number, total: number): void;
  /** Waits for the writes so far; rejects with the first write error. */
  flush(): Promise<void>;
}

/**
 * The rule for which progress reports go on: a stage's first report, its completion, and otherwise at most one
 * per `intervalMs`. Returns whether this report passes (and counts it when it does).
 */
export function progressThrottle(
  intervalMs: number,
  now: () => number = () => performance.now(),
): (stage: string, done: number, total: number) => boolean {
  let lastStage = "";
  let lastAt = -Infinity;
  return (stage, done, total) => {
    const t = now();
    if (stage === lastStage && done !== total && t - lastAt < intervalMs) return false;
    lastStage = stage;
    lastAt = t;
    return true;
  };
}

export function createProgressReporter(
  write: ProgressWrite,
  options: { intervalMs: number; onLeaseLost: () => void; now?: () => number },
): ProgressReporter {
  const passes = progressThrottle(options.intervalMs, options.now);
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown = null;
  return {
    report(stage, done, total) {
      if (!passes(stage, done, total)) return;
      chain = chain.then(async () => {
        if (failure !== null) return;
        try {
          if (!await write({ stage, done, total })) options.onLeaseLost();
        } catch (error) {
          failure ??= error;
        }
      });
    },
    async flush() {
      await chain;
      if (failure !== null) throw failure;
    },
  };
}
