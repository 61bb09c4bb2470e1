/**
 * The preference margin of a model on pairs (the DPO view of ProFS, no classifier needed): per pair, the mean
 * per-token log-likelihood of the preferred text minus that of the rejected text, in nats per token; over pairs,
 * the mean margin and the preference accuracy (the share of pairs with a margin above 0). An edit that removes
 * the unwanted behaviour raises both on pairs it never saw (gpu-worker/edit/holdout.ts).
 *
 * The model is anything with `logProbs` (gpu-worker/lm/runner.ts): a runner over a model folder, or one that
 * applies a candidate correction on the fly.
 */
import type { BatchOptions, LmRunner } from "../lm/runner.ts";

export interface MarginSummary {
  /** Pairs counted. */
  pairs: number;
  /** Pairs left out as a side predicts no token (a text of one token has no log-likelihood to average). */
  skipped: number;
  /** Mean over counted pairs of mean log p(preferred) − mean log p(rejected), nats per token (0 with none). */
  meanMargin: number;
  /** Share of counted pairs whose margin is above 0 (0 with none). */
  accuracy: number;
}

/** Per pair: mean per-token log-likelihood of `preferred` minus that of `rejected`; null when a side has none. */
export async function pairMargins(
  model: Pick<LmRunner, "logProbs">,
  pairs: readonly { preferred: string; rejected: string }[],
  options: BatchOptions = {},
): Promise<(number | null)[]> {
  if (pairs.length === 0) return [];
  // One call over both sides, so they share batches (and the caller's progress counts every text).
  const texts = [...pairs.map((p) => p.preferred), ...pairs.map((p) => p.rejected)];
  const logProbs = await model.logProbs(texts, options);
  const n = pairs.length;
  return pairs.map((_, i) => {
    const good = logProbs[i];
    const bad = logProbs[n + i];
    if (good.count === 0 || bad.count === 0) return null;
    return good.sum / good.count - bad.sum / bad.count;
  });
}

export function summarizeMargins(margins: readonly (number | null)[]): MarginSummary {
  let sum = 0;
  let above = 0;
  let pairs = 0;
  for (const m of margins) {
    if (m === null) continue;
    pairs++;
    sum += m;
    if (m > 0) above++;
  }
  return {
    pairs,
    skipped: margins.length - pairs,
    meanMargin: pairs === 0 ? 0 : sum / pairs,
    accuracy: pairs === 0 ? 0 : above / pairs,
  };
}

/** `pairMargins` and their summary. */
export async function heldOutMargin(
  model: Pick<LmRunner, "logProbs">,
  pairs: readonly { preferred: string; rejected: string }[],
  options: BatchOptions = {},
): Promise<{ margins: (number | null)[]; summary: MarginSummary }> {
  const margins = await pairMargins(model, pairs, options);
  return { margins, summary: summarizeMargins(margins) };
}
