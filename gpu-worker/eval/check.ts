/**
 * A check: does a model still behave, and is it less toxic? Runs on one GPT-2 runner (the model under test) and
 * optionally the base model's runner (for KL):
 * - toxicity: greedy continuations (default 10 new tokens) of challenge prompts, scored by the toxicity scorer
 *   (mean score and share at or above the threshold);
 * - perplexity of held-out texts;
 * - KL(base ‖ model) of the next-token distributions after each benign prompt (absent without a base);
 * - a few sample generations (the first challenge prompts with their continuations and scores).
 * Inputs default to the built-in prompt sets (gpu-worker/eval/default_prompts.ts).
 */
import { InputError } from "../../shared/errors.ts";
import {
  DEFAULT_BENIGN_PROMPTS,
  DEFAULT_CHALLENGE_PROMPTS,
  DEFAULT_HELD_OUT_TEXTS,
} from "./default_prompts.ts";
import type { CheckResult, CheckStage } from "../../shared/contracts/check_result.ts";
import { klDivergenceRows, mean, perplexity, toxicityStats } from "./metrics.ts";
import { DEFAULT_TOXICITY_THRESHOLD, type ToxicityScorer } from "../../shared/toxicity/scorer.ts";
import type { LmRunner } from "../lm/runner.ts";

export type { CheckResult, CheckStage };

/** What a check runs on: GPT-2's runner or the LM runner of any family (gpu-worker/lm/runner.ts). */
export type CheckedModel = Pick<LmRunner, "generate" | "logProbs" | "logits"> & {
  readonly config: { vocabSize: number };
};

export interface CheckInputs {
  challengePrompts?: readonly string[];
  benignPrompts?: readonly string[];
  heldOutTexts?: readonly string[];
}

export interface CheckOptions {
  /** New tokens per challenge continuation (default 10). */
  maxNewTokens?: number;
  threshold?: number;
  /** Sample generations kept in the result (default 3). */
  samples?: number;
  /** Tokens kept of each held-out text and benign prompt (default 128). */
  maxTokens?: number;
  batchSize?: number;
  onProgress?: (stage: CheckStage, done: number, total: number) => void;
  signal?: AbortSignal;
}

export const DEFAULT_MAX_NEW_TOKENS = 10;

export async function runCheck(
  model: CheckedModel,
  base: CheckedModel | null,
  scorer: ToxicityScorer,
  inputs: CheckInputs = {},
  options: CheckOptions = {},
): Promise<CheckResult> {
  const challenge = nonEmpty(inputs.challengePrompts ?? DEFAULT_CHALLENGE_PROMPTS, "challengePrompts");
  const benign = nonEmpty(inputs.benignPrompts ?? DEFAULT_BENIGN_PROMPTS, "benignPrompts");
  const heldOut = nonEmpty(inputs.heldOutTexts ?? DEFAULT_HELD_OUT_TEXTS, "heldOutTexts");
  const maxNewTokens = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  const threshold = options.threshold ?? DEFAULT_TOXICITY_THRESHOLD;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new InputError(
      `Cannot run a check as 'threshold' must be in [0, 1]: current value is ${threshold}`,
    );
  }
  if (base && base.config.vocabSize !== model.config.vocabSize) {
    throw new InputError(
      `Cannot compare with the base model as its vocabulary must match the model's (${model.config.vocabSize}): base has ${base.config.vocabSize}`,
    );
  }
  const { batchSize, signal, maxTokens } = options;
  const progress = (stage: CheckStage) => (done: number, total: number) =>
    options.onProgress?.(stage, done, total);
  const timings_ms = { toxicity: 0, perplexity: 0, kl: 0 };

  let started = performance.now();
  const generations = await model.generate([...challenge], {
    maxNewTokens,
    batchSize,
    signal,
    onProgress: progress("toxicity"),
  });
  const scores = (await scorer.score(generations.map((g) => g.text), { signal })).map((s) => s.score);
  const toxicity = toxicityStats(scores, threshold);
  timings_ms.toxicity = performance.now() - started;

  started = performance.now();
  const logProbs = await model.logProbs([...heldOut], {
    maxTokens,
    batchSize,
    signal,
    onProgress: progress("perplexity"),
  });
  const ppl = perplexity(logProbs);
  timings_ms.perplexity = performance.now() - started;

  let kl: CheckResult["kl"] = null;
  if (base) {
    started = performance.now();
    const vocab = model.config.vocabSize;
    const reference = await base.logits([...benign], { maxTokens, batchSize, signal });
    const tested = await model.logits([...benign], {
      maxTokens,
      batchSize,
      signal,
      onProgress: progress("kl"),
    });
    const rows = klDivergenceRows(reference, tested, vocab);
    kl = { mean: mean(rows), max: Math.max(...rows), prompts: rows.length };
    timings_ms.kl = performance.now() - started;
  }

  const samples = generations.slice(0, options.samples ?? 3).map((g, i) => ({
    prompt: challenge[i],
    continuation: g.text,
    score: scores[i],
  }));
  return {
    toxicity: {
      scorer: scorer.name,
      threshold,
      mean: toxicity.mean,
      share_toxic: toxicity.shareToxic,
      prompts: toxicity.count,
      max_new_tokens: maxNewTokens,
    },
    perplexity: { value: ppl.value, texts: heldOut.length, tokens: ppl.tokens },
    kl,
    samples,
    timings_ms,
  };
}

function nonEmpty(texts: readonly string[], name: string): readonly string[] {
  if (texts.length === 0) {
    throw new InputError(`Cannot run a check as '${name}' must hold at least one text: it is empty`);
  }
  return texts;
}
