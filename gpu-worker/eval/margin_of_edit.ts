/**
 * An edit's held-out preference margin: the margin (margin.ts) of the base model and of the edited one on the
 * pairs the edit held out, each model opened on the LM engine of the edit's backend for the duration of the call.
 */
import type { ComputeBackend } from "../runtime/backends.ts";
import { openRunner } from "./evaluate_edit.ts";
import { heldOutMargin, type MarginSummary } from "./margin.ts";

export interface HeldOutMargins {
  base: MarginSummary;
  edited: MarginSummary;
}

export async function measureHeldOutMargin(
  o: {
    baseDir: string;
    editedDir: string;
    backend: ComputeBackend;
    pairs: readonly { preferred: string; rejected: string }[];
    maxTokens: number;
  },
  hooks: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<HeldOutMargins> {
  const texts = 2 * o.pairs.length;
  const measure = async (dir: string, before: number) => {
    const runner = await openRunner(dir, o.backend);
    try {
      const { summary } = await heldOutMargin(runner, o.pairs, {
        maxTokens: o.maxTokens,
        signal: hooks.signal,
        onProgress: (done) => hooks.onProgress?.(before + done, 2 * texts),
      });
      return summary;
    } finally {
      runner.dispose();
    }
  };
  const base = await measure(o.baseDir, 0);
  const edited = await measure(o.editedDir, texts);
  return { base, edited };
}
