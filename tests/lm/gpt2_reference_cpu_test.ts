/**
 * The CPU LM engine on GPT-2's float64 torch reference (GPT-2's real tokenizer and 50,257-token vocabulary):
 * embeddings, logits, log-probs and greedy tokens; batch invariance (bit for bit on the TypeScript products,
 * within rounding on OpenBLAS); OpenBLAS against the twin; EOS and empty inputs; the row and residual budgets
 * that split a batch; and greedy generation with the KV cache equal to recomputing every prefix from scratch.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { typescriptGemm } from "../../gpu-worker/blas/gemm.ts";
import { embedSequences, loadLmCpuModel } from "../../gpu-worker/lm/cpu/forward.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createLmCpuRunner } from "../../gpu-worker/lm/runner.ts";
import { encodeTexts } from "../../gpu-worker/lm/tokens.ts";
import { gpt2TokenizerJson } from "../../infra/demo/gpt2_tokenizer_json.ts";
import { InputError } from "../../shared/errors.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { blasGemm, noBlas } from "../helpers/env.ts";
import { toSafetensors } from "../fixtures/gpt2_reference/tiny_weights.ts";
import { gpt2Tokenizer, reference, referenceModel } from "./gpt2_reference.ts";
import { checkAgainstReference, checkBatchInvariance } from "./gpt2_reference_checks.ts";

const dir = await Deno.makeTempDir({ prefix: "gpt2_reference_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(referenceModel.config));
await Deno.writeTextFile(join(dir, "tokenizer.json"), await gpt2TokenizerJson());
await Deno.writeFile(join(dir, "model.safetensors"), toSafetensors(referenceModel));
const folder = await openModelFolder(dir);
globalThis.addEventListener("unload", () => folder.close());
const family = lmFamilyFrom(folder.config, "the GPT-2 reference model");
const runner = await createLmCpuRunner(folder, family, gpt2Tokenizer);
const twin = await createLmCpuRunner(folder, family, gpt2Tokenizer, { gemm: typescriptGemm() });

const argmax = (x: Float32Array, from: number, length: number) => {
  let best = 0;
  for (let i = 1; i < length; i++) if (x[from + i] > x[from + best]) best = i;
  return best;
};

Deno.test("cpu engine on GPT-2: pooled embeddings, logits, log-probs and greedy tokens match the float64 torch reference", () =>
  checkAgainstReference(runner, "cpu"));

Deno.test("cpu engine on GPT-2: batch composition changes a text's embedding by float32 rounding at most", () =>
  checkBatchInvariance(runner, "cpu", runner.device.includes("openblas") ? "rounding" : "exact"));

Deno.test("cpu engine on GPT-2 with the TypeScript products: batch composition changes no bit of an embedding", () =>
  checkBatchInvariance(twin, "cpu typescript", "exact"));

Deno.test({
  name:
    "cpu engine on GPT-2 with OpenBLAS: pooled embeddings, logits and log-probs match the TypeScript products'",
  ignore: noBlas(),
  async fn() {
    const blas = await createLmCpuRunner(folder, family, gpt2Tokenizer, { gemm: blasGemm });
    assert.match(blas.device, /openblas/);
    // Same inputs, float32 products summed in different orders: the residual stream drifts by float32 rounding
    // per block (values up to ~10): 1e-4 absolute is ~10 ulps of the largest.
    const tol = { atol: 1e-4, rtol: 1e-4 };
    const [a, b] = [await blas.embed(reference.texts), await twin.embed(reference.texts)];
    a.forEach((layer, l) => assertClose(layer, b[l], { ...tol, label: `pooled layer ${l}` }));
    assertClose(await blas.logits(reference.texts), await twin.logits(reference.texts), {
      ...tol,
      label: "logits",
    });
    const [pa, pb] = [await blas.logProbs(reference.texts), await twin.logProbs(reference.texts)];
    pa.forEach((p, i) =>
      assertClose(p.tokenLogProbs, pb[i].tokenLogProbs, { ...tol, label: `log-probs ${i}` })
    );
  },
});

Deno.test("cpu engine on GPT-2: greedy generation stops at EOS (excluded) per sequence and honours maxNewTokens", async () => {
  // Pretend prompt 0's second greedy token is EOS: prompt 0 stops before it, the others run on to their own.
  const eos = reference.generated[0][1];
  const eosRunner = await createLmCpuRunner(folder, family, { ...gpt2Tokenizer, eosTokenId: eos });
  const out = await eosRunner.generate(reference.prompts, { maxNewTokens: 5, stopAtEos: true });
  const untilEos = (tokens: number[]) =>
    tokens.indexOf(eos) < 0 ? tokens : tokens.slice(0, tokens.indexOf(eos));
  assert.deepEqual(out.map((g) => g.tokens), reference.generated.map(untilEos));
  assert.equal(out[0].tokens.length, 1);
  const none = await runner.generate(reference.prompts, { maxNewTokens: 0 });
  assert.deepEqual(none.map((g) => g.tokens), [[], [], []]);
  const two = await runner.generate(reference.prompts, { maxNewTokens: 2, stopAtEos: false });
  assert.deepEqual(two.map((g) => g.tokens), reference.generated.map((g) => g.slice(0, 2)));
});

Deno.test("cpu engine on GPT-2: an empty prompt starts from <|endoftext|>; an empty text cannot be embedded", async () => {
  const [fromEmpty] = await runner.generate([""], { maxNewTokens: 1, stopAtEos: false });
  const eosText = await createLmCpuRunner(folder, family, {
    ...gpt2Tokenizer,
    encode: (text) => text === "<eos>" ? [50256] : gpt2Tokenizer.encode(text),
  });
  const logits = await eosText.logits(["<eos>"]);
  assert.deepEqual(fromEmpty.tokens, [argmax(logits, 0, logits.length)]);
  await assert.rejects(runner.embed([""]), InputError);
});

Deno.test("cpu engine on GPT-2: row and residual budgets split the texts into chunks and groups, same embeddings", async () => {
  const ids = encodeTexts(gpt2Tokenizer, family, reference.texts, 128);
  const whole = await embedSequences(folder, family, ids, { gemm: blasGemm });
  const blocks: number[] = [];
  // 12 rows per block call (a text longer than that runs alone) and 20 rows of residual streams per group
  // (each group reads every block again).
  const split = await embedSequences(folder, family, ids, {
    gemm: blasGemm,
    maxRows: 12,
    maxResidualBytes: 20 * 4 * family.hiddenSize,
    onBlock: (l) => blocks.push(l),
  });
  const groups = blocks.filter((l) => l === 0).length;
  assert.ok(
    groups >= 2,
    `the residual budget forms ${groups} groups (token counts ${ids.map((s) => s.length)})`,
  );
  // The BLAS path sums a product in an order that may depend on its row count (see checkBatchInvariance).
  split.forEach((layer, l) => assertClose(layer, whole[l], { atol: 1e-5, rtol: 1e-5, label: `layer ${l}` }));
});

for (
  const [name, path] of [
    ["GPT-2 (learned positions)", null],
    ["Llama with GQA (rotary positions, 2 kv heads)", "../fixtures/lm/llama-gqa"],
  ] as const
) {
  Deno.test(`cpu engine: greedy generation with the KV cache equals recomputing every prefix from scratch: ${name}`, async () => {
    const modelFolder = path ? await openModelFolder(fileURLToPath(new URL(path, import.meta.url))) : folder;
    try {
      const fam = path ? lmFamilyFrom(modelFolder.config) : family;
      const model = await loadLmCpuModel(modelFolder, fam, blasGemm);
      // Prompts of different lengths decoded side by side, so cache slots, positions and key counts differ.
      const prompts = [[1, 2, 3, 4, 5, 6, 7], [8], [9, 10, 11]].map((p) =>
        p.map((t) => (t * 37) % fam.vocabSize)
      );
      const steps = 6;
      const cached = await model.generate(prompts, steps);
      for (let i = 0; i < prompts.length; i++) {
        const recomputed: number[] = [];
        for (let t = 0; t < steps; t++) {
          const logits = await model.lastLogits([[...prompts[i], ...recomputed]]);
          recomputed.push(argmax(logits, 0, fam.vocabSize));
        }
        assert.deepEqual(cached[i], recomputed, `prompt ${i}`);
      }
    } finally {
      if (path) await modelFolder.close();
    }
  });
}
