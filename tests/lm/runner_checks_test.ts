/**
 * The checks' runner for non-GPT-2 families (gpu-worker/lm/runner.ts) against the transformers references, and a
 * whole check (generation, perplexity, KL) through gpu-worker/eval on Llama- and OPT-shaped folders.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkModel, evaluateEdit } from "../../gpu-worker/eval/evaluate_edit.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createLmCpuRunner } from "../../gpu-worker/lm/runner.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import { assertClose } from "../helpers/assert_close.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

function close(actual: ArrayLike<number>, expected: number[], label: string) {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  // float32 engine vs float64 reference; see cpu_reference_test.ts for the tolerance.
  assertClose(actual, expected, { atol: 1e-4 * scale, rtol: 1e-4, label });
}

for (const variant of ["llama-gqa", "opt", "gptj", "qwen2"]) {
  Deno.test(`the LM runner's logits, log-probs, generation and embeddings match the reference: ${variant}`, async () => {
    const dir = FIXTURES + variant;
    const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
    const folder = await openModelFolder(dir);
    try {
      const family = lmFamilyFrom(folder.config);
      const runner = await createLmCpuRunner(folder, family, await loadTokenizer(dir));
      const texts: string[] = expected.texts;
      close(await runner.logits(texts, { batchSize: 3 }), expected.last_logits, "logits");
      const lp = await runner.logProbs(texts, { batchSize: 3 });
      lp.forEach((t, n) => {
        close(t.tokenLogProbs, expected.log_probs[n], `log-probs ${n}`);
        assert.equal(t.count, expected.ids[n].length - 1);
      });
      const prompts = (expected.prompts as number[]).map((p) => texts[p]);
      const generations = await runner.generate(prompts, { maxNewTokens: 5, stopAtEos: false, batchSize: 1 });
      assert.deepEqual(generations.map((g) => g.tokens), expected.greedy);
      const pooled = await runner.embed(texts);
      pooled.forEach((p, l) => close(p, expected.pooled[l], `pooled ${l}`));
      runner.dispose();
    } finally {
      await folder.close();
    }
  });
}

for (const variant of ["llama-gqa", "opt"]) {
  Deno.test(`a check (toxicity, perplexity, KL against itself) runs on a ${variant} folder`, async () => {
    const dir = FIXTURES + variant;
    const scorer = createLexiconScorer();
    const inputs = {
      challengePrompts: ["Hello world", "the lazy dog"],
      benignPrompts: ["a preference pair"],
      heldOutTexts: ["The quick brown fox jumps over the lazy dog"],
    };
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
