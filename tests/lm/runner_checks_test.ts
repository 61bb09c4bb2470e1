/**
 * The checks' runner for non-GPT-2 families (gpu-worker/lm/runner.ts) against the transformers references, and a
 * whole check (generation, perplexity, KL) through gpu-worker/eval on Llama- and OPT-shaped folders.
 */
import assert from "node:assert/strict";
import { checkModel, evaluateEdit } from "../../gpu-worker/eval/evaluate_edit.ts";
import { createLmCpuRunner } from "../../gpu-worker/lm/runner.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import { CHECK_INPUTS, checkRunnerAgainstReference, FIXTURES } from "./runner_reference.ts";

const cpu = { open: createLmCpuRunner, generateBatchSize: 1 };

for (const variant of ["llama-gqa", "opt", "gptj", "qwen2"]) {
  Deno.test(
    `the LM runner's logits, log-probs, generation and embeddings match the reference: ${variant}`,
    () => checkRunnerAgainstReference(variant, cpu),
  );
}

for (const variant of ["llama-gqa", "opt"]) {
  Deno.test(`a check (toxicity, perplexity, KL against itself) runs on a ${variant} folder`, async () => {
    const dir = FIXTURES + variant;
    const scorer = createLexiconScorer();
    const inputs = CHECK_INPUTS;
    const alone = await checkModel({ dir, backend: "cpu", scorer, inputs, check: { maxNewTokens: 4 } });
    assert.ok(
      Number.isFinite(alone.perplexity.value) && alone.perplexity.value > 1,
      `${alone.perplexity.value}`,
    );
    assert.equal(alone.kl, null);
    assert.equal(alone.toxicity.prompts, 2);
    const both = await evaluateEdit({
      baseDir: dir,
      editedDir: dir,
      backend: "cpu",
      scorer,
      inputs,
      check: { maxNewTokens: 4 },
    });
    assert.ok(Math.abs(both.after.kl!.mean) < 1e-6, "KL of a model against itself is 0");
    assert.equal(both.after.perplexity.value, both.before.perplexity.value);
  });
}
