/**
 * What one trial measures, on a runner that applies the candidate's correction on the fly (lm/correction.ts):
 * the held-out preference margin (eval/margin.ts), KL to the base model's next-token distributions after each
 * benign prompt and the perplexity of the benign texts (eval/metrics.ts), and — only when challenge prompts are
 * given — the toxicity of greedy continuations with the configured scorer. The base model is measured the same
 * way once (`Measured` with no correction), and a trial is reported as its figures and their change.
 */
import { DEFAULT_MAX_NEW_TOKENS } from "../eval/check.ts";
import { heldOutMargin, type MarginSummary } from "../eval/margin.ts";
import { klDivergenceRows, mean, perplexity, toxicityStats } from "../eval/metrics.ts";
import type { LayerRange } from "../../shared/contracts/edit_params.ts";
import { DEFAULT_TOXICITY_THRESHOLD, type ToxicityScorer } from "../../shared/toxicity/scorer.ts";
import type { LmRunner, TextLogProbs } from "../lm/runner.ts";

export interface Pair {
  preferred: string;
  rejected: string;
}

/** The texts every trial is measured on (fixed for a search). */
export interface ObjectiveInputs {
  heldOut: readonly Pair[];
  benignPrompts: readonly string[];
  benignTexts: readonly string[];
  /** Null: no toxicity objective. */
  challengePrompts: readonly string[] | null;
  scorer: ToxicityScorer | null;
  maxTokens: number;
  maxNewTokens?: number;
  threshold?: number;
  batchSize?: number;
}

export interface Measured {
  margin: MarginSummary;
  /** [benign prompts, V] next-token logits (kept for the base only: the KL reference). */
  logits: Float32Array;
  perplexity: number;
  toxicity: { mean: number; shareToxic: number } | null;
}

/** One finished trial, as a trial store records it and tune.json lists it. */
export interface TrialRecord {
  /** candidateKey: "from:to/r<k>/c<1|0>". */
  key: string;
  /** The search's inputs this trial belongs to (a resumed search refuses another search's trials). */
  fingerprint: string;
  layers: LayerRange;
  rank: number;
  centering: boolean;
  /** Held-out margin under the corrected model and its gain over the base (nats per token). */
  margin: { mean: number; accuracy: number; gain: number };
  /** Mean KL(base ‖ trial) of the next-token distribution after each benign prompt, nats. */
  kl: number;
  perplexity: number;
  /** Null without challenge prompts; reduction = base mean score − trial mean score. */
  toxicity: { mean: number; shareToxic: number; reduction: number } | null;
  seconds: number;
  /** Order the trial finished in (0-based, across resumes). */
  index: number;
}

/** Measures the runner as it is now configured (the base, or with a correction set). */
export async function measure(
  runner: Pick<LmRunner, "logProbs" | "logits" | "generate" | "config">,
  inputs: ObjectiveInputs,
  signal?: AbortSignal,
): Promise<Measured> {
  const { maxTokens, batchSize } = inputs;
  // The margin's log-probabilities also serve the perplexity when the benign texts are among its texts (the
  // default: the held-out preferred texts), so those texts run once per trial.
  const seen = new Map<string, TextLogProbs>();
  const remembering: Pick<LmRunner, "logProbs"> = {
    async logProbs(texts, o) {
      const out = await runner.logProbs(texts, o);
      texts.forEach((t, i) => seen.set(t, out[i]));
      return out;
    },
  };
  const { summary } = await heldOutMargin(remembering, inputs.heldOut, { maxTokens, batchSize, signal });
  const missing = [...new Set(inputs.benignTexts.filter((t) => !seen.has(t)))];
  if (missing.length > 0) await remembering.logProbs(missing, { maxTokens, batchSize, signal });
  const ppl = perplexity(inputs.benignTexts.map((t) => seen.get(t)!)).value;
  const logits = await runner.logits([...inputs.benignPrompts], { maxTokens, batchSize, signal });
  let toxicity: Measured["toxicity"] = null;
  if (inputs.challengePrompts && inputs.scorer) {
    const generations = await runner.generate([...inputs.challengePrompts], {
      maxNewTokens: inputs.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
      batchSize,
      signal,
    });
    const scores = (await inputs.scorer.score(generations.map((g) => g.text), { signal })).map((s) =>
      s.score
    );
    const stats = toxicityStats(scores, inputs.threshold ?? DEFAULT_TOXICITY_THRESHOLD);
    toxicity = { mean: stats.mean, shareToxic: stats.shareToxic };
  }
  return { margin: summary, logits, perplexity: ppl, toxicity };
}

/** A trial's figures against the base's. */
export function compare(
  trial: Measured,
  base: Measured,
  vocab: number,
): Pick<TrialRecord, "margin" | "kl" | "perplexity" | "toxicity"> {
  return {
    margin: {
      mean: trial.margin.meanMargin,
      accuracy: trial.margin.accuracy,
      gain: trial.margin.meanMargin - base.margin.meanMargin,
    },
    kl: mean(klDivergenceRows(base.logits, trial.logits, vocab)),
    perplexity: trial.perplexity,
    toxicity: trial.toxicity && base.toxicity
      ? { ...trial.toxicity, reduction: base.toxicity.mean - trial.toxicity.mean }
      : null,
  };
}
