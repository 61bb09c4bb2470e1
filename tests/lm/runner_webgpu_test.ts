/**
 * The checks' runner on WebGPU for non-GPT-2 families (gpu-worker/lm/webgpu/runner.ts) against the transformers
 * references, and a whole check (generation, perplexity, KL) through gpu-worker/eval with --backend webgpu.
 */
import assert from "node:assert/strict";
import { checkModel, evaluateEdit } from "../../gpu-worker/eval/evaluate_edit.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createLmWebGpuRunner } from "../../gpu-worker/lm/webgpu/runner.ts";
import { folderSource } from "../../gpu-worker/lm/webgpu/weights.ts";
import type { LmFamily } from "../../shared/model/lm_family.ts";
import { type ModelFolder, openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer, type Tokenizer } from "../../shared/model/tokenizer.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { testGpu } from "../kernels/kernel_harness.ts";
import { CHECK_INPUTS, checkRunnerAgainstReference, FIXTURES } from "./runner_reference.ts";

const webgpu = {
  open: async (folder: ModelFolder, family: LmFamily, tokenizer: Tokenizer) =>
    await createLmWebGpuRunner(folderSource(folder), family, tokenizer, { gpu: await testGpu() }),
  generateBatchSize: 2,
};

for (const variant of ["llama-gqa", "opt", "gptj", "qwen3-bf16"]) {
  Deno.test({
    name:
      `the WebGPU LM runner's logits, log-probs, generation and embeddings match the reference: ${variant}`,
    ignore: noGpu(),
    fn: () => checkRunnerAgainstReference(variant, webgpu),
  });
}

Deno.test({
  name: "generation stops each sequence at EOS (not included) on the WebGPU runner",
  ignore: noGpu(),
  async fn() {
    const dir = FIXTURES + "llama-gqa";
    const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
    const folder = await openModelFolder(dir);
    try {
      const family = lmFamilyFrom(folder.config);
      const tokenizer = await loadTokenizer(dir);
      const greedy: number[] = expected.greedy[0];
      // Pretend the third greedy token is EOS: the generation must stop right before it.
      const runner = await createLmWebGpuRunner(folderSource(folder), family, {
        ...tokenizer,
        eosTokenId: greedy[2],
      }, {
        gpu: await testGpu(),
      });
      const [g] = await runner.generate([expected.texts[expected.prompts[0]]], { maxNewTokens: 5 });
      assert.deepEqual(g.tokens, greedy.slice(0, greedy.indexOf(greedy[2])));
      runner.dispose();
    } finally {
      await folder.close();
    }
  },
});

for (const variant of ["llama-gqa", "gpt2"]) {
  Deno.test({
    name:
      `a check (toxicity, perplexity, KL against itself) on a ${variant} folder with --backend webgpu equals the CPU's`,
    ignore: noGpu(),
    async fn() {
      const dir = FIXTURES + variant;
      const scorer = createLexiconScorer();
      const inputs = CHECK_INPUTS;
      const gpu = await checkModel({ dir, backend: "webgpu", scorer, inputs, check: { maxNewTokens: 4 } });
      assert.ok(Number.isFinite(gpu.perplexity.value) && gpu.perplexity.value > 1, `${gpu.perplexity.value}`);
      const cpu = await checkModel({ dir, backend: "cpu", scorer, inputs, check: { maxNewTokens: 4 } });
      // Two float32 engines over the same weights: perplexity agrees to 1e-4 relative, generations exactly.
      assertClose([gpu.perplexity.value], [cpu.perplexity.value], {
        rtol: 1e-4,
        label: "perplexity webgpu vs cpu",
      });
      assert.deepEqual(gpu.toxicity, cpu.toxicity);
      const both = await evaluateEdit({
        baseDir: dir,
        editedDir: dir,
        backend: "webgpu",
        scorer,
        inputs,
        check: { maxNewTokens: 4 },
      });
      assert.ok(Math.abs(both.after.kl!.mean) < 1e-6, "KL of a model against itself is 0");
    },
  });
}
