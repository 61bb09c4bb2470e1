/**
 * The checks' runner on WebGPU for non-GPT-2 families (gpu-worker/lm/webgpu/runner.ts) against the transformers
 * references, and a whole check (generation, perplexity, KL) through gpu-worker/eval with --backend webgpu.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkModel, evaluateEdit } from "../../gpu-worker/eval/evaluate_edit.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createLmWebGpuRunner } from "../../gpu-worker/lm/webgpu/runner.ts";
import { folderSource } from "../../gpu-worker/lm/webgpu/weights.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { testGpu } from "../kernels/kernel_harness.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

function close(actual: ArrayLike<number>, expected: number[], label: string) {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  // float32 engine vs float64 reference; see webgpu_engine_test.ts for the tolerance.
  assertClose(actual, expected, { atol: 1e-4 * scale, rtol: 1e-4, label });
}

for (const variant of ["llama-gqa", "opt", "gptj", "qwen3-bf16"]) {
  Deno.test({
    name:
      `the WebGPU LM runner's logits, log-probs, generation and embeddings match the reference: ${variant}`,
    ignore: noGpu(),
    async fn() {
      const dir = FIXTURES + variant;
      const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      const folder = await openModelFolder(dir);
      try {
        const family = lmFamilyFrom(folder.config);
        const runner = await createLmWebGpuRunner(folderSource(folder), family, await loadTokenizer(dir), {
          gpu: await testGpu(),
        });
        const texts: string[] = expected.texts;
        close(await runner.logits(texts, { batchSize: 3 }), expected.last_logits, "logits");
        const lp = await runner.logProbs(texts, { batchSize: 3 });
        lp.forEach((t, n) => {
          close(t.tokenLogProbs, expected.log_probs[n], `log-probs ${n}`);
          assert.equal(t.count, expected.ids[n].length - 1);
        });
        const prompts = (expected.prompts as number[]).map((p) => texts[p]);
        const generations = await runner.generate(prompts, {
          maxNewTokens: 5,
          stopAtEos: false,
          batchSize: 2,
        });
        assert.deepEqual(generations.map((g) => g.tokens), expected.greedy);
        const pooled = await runner.embed(texts);
        pooled.forEach((p, l) => close(p, expected.pooled[l], `pooled ${l}`));
        runner.dispose();
      } finally {
        await folder.close();
      }
    },
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
      const inputs = {
        challengePrompts: ["Hello world", "the lazy dog"],
        benignPrompts: ["a preference pair"],
        heldOutTexts: ["The quick brown fox jumps over the lazy dog"],
      };
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
