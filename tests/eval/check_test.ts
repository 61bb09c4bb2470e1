/**
 * runCheck's bookkeeping on a scripted runner (no model): which texts go where, how scores, log-probabilities
 * and logits become the reported figures, and which inputs are refused. The real model path is covered by
 * tests/demo.
 */
import assert from "node:assert/strict";
import { runCheck } from "../../gpu-worker/eval/check.ts";
import type { LmRunner } from "../../gpu-worker/lm/runner.ts";
import { klDivergence } from "../../gpu-worker/eval/metrics.ts";
import { InputError } from "../../shared/errors.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";

const V = 3;

/** Continues prompts containing "angry" with a profanity; fixed log-probs; logits per prompt from `logitsOf`. */
function scriptedRunner(
  logitsOf: (text: string) => number[],
  vocabSize = V,
): LmRunner & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    config: { numLayers: 1, hiddenSize: 4, vocabSize, maxPositions: 64 },
    backend: "cpu",
    device: "scripted",
    embed: () => Promise.reject(new Error("not used")),
    setCorrection: () => {
      throw new Error("not used");
    },
    logits: (texts) => {
      calls.push(`logits:${texts.length}`);
      return Promise.resolve(Float32Array.from(texts.flatMap(logitsOf)));
    },
    generate: (prompts, options) => {
      calls.push(`generate:${prompts.length}:${options.maxNewTokens}`);
      return Promise.resolve(
        prompts.map((p) => ({ tokens: [1], text: p.includes("angry") ? " you bastard" : " hello" })),
      );
    },
    logProbs: (texts) => {
      calls.push(`logProbs:${texts.length}`);
      // text i: two tokens predicted, each with log p = −(i + 1)
      return Promise.resolve(
        texts.map((_, i) => ({
          tokenLogProbs: new Float32Array([-(i + 1), -(i + 1)]),
          sum: -2 * (i + 1),
          count: 2,
        })),
      );
    },
    dispose: () => {},
  };
}

const inputs = {
  challengePrompts: ["he was angry and", "a calm day", "so angry that"],
  benignPrompts: ["a", "b"],
  heldOutTexts: ["x", "y"],
};

Deno.test("runCheck: toxicity of continuations, pooled perplexity, no KL without a base, samples in prompt order", async () => {
  const model = scriptedRunner(() => [0, 0, 0]);
  const result = await runCheck(model, null, createLexiconScorer(), inputs, { samples: 2, maxNewTokens: 7 });
  assert.deepEqual(model.calls, ["generate:3:7", "logProbs:2"]);
  assert.equal(result.toxicity.share_toxic, 2 / 3);
  assert.equal(result.toxicity.mean, (0.75 + 0 + 0.75) / 3);
  assert.equal(result.toxicity.max_new_tokens, 7);
  assert.equal(result.toxicity.scorer, "lexicon");
  // log-probs −1, −1, −2, −2 over 4 tokens → exp(6/4)
  assert.ok(Math.abs(result.perplexity.value - Math.exp(1.5)) < 1e-12);
  assert.equal(result.perplexity.tokens, 4);
  assert.equal(result.kl, null);
  assert.deepEqual(result.samples, [
    { prompt: "he was angry and", continuation: " you bastard", score: 0.75 },
    { prompt: "a calm day", continuation: " hello", score: 0 },
  ]);
});

Deno.test("runCheck: KL(base ‖ model) per benign prompt, mean and max", async () => {
  const base = scriptedRunner(() => [0, 0, 0]);
  const model = scriptedRunner((t) => (t === "a" ? [2, 0, 0] : [0, 0, 0]));
  const result = await runCheck(model, base, createLexiconScorer(), inputs);
  const expected = klDivergence([0, 0, 0], [2, 0, 0]);
  assert.ok(result.kl !== null);
  assert.ok(Math.abs(result.kl.max - expected) < 1e-9);
  assert.ok(Math.abs(result.kl.mean - expected / 2) < 1e-9);
  assert.equal(result.kl.prompts, 2);
  assert.deepEqual(base.calls, ["logits:2"]);
});

Deno.test("runCheck refuses empty prompt sets, a threshold outside [0, 1] and a base with another vocabulary", async () => {
  const model = scriptedRunner(() => [0, 0, 0]);
  const scorer = createLexiconScorer();
  await assert.rejects(runCheck(model, null, scorer, { ...inputs, challengePrompts: [] }), InputError);
  await assert.rejects(
    runCheck(model, null, scorer, inputs, { threshold: 1.5 }),
    /'threshold' must be in \[0, 1\]/,
  );
  await assert.rejects(
    runCheck(model, scriptedRunner(() => [0, 0, 0, 0], 4), scorer, inputs),
    /vocabulary must match/,
  );
});
