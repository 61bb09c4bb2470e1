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

export function createProgressReporter(
  write: ProgressWrite,
  options: { intervalMs: number; onLeaseLost: () => void; now?: () => number },
): ProgressReporter {
  const now = options.now ?? (() => performance.now());
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown = null;
  let lastStage = "";
  let lastAt = -Infinity;
  return {
    report(stage, done, total) {
      const t = now();
      if (stage === lastStage && done !== total && t - lastAt < options.intervalMs) return;
      lastStage = stage;
      lastAt = t;
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
