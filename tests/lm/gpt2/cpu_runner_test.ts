import assert from "node:assert/strict";
import { gpt2ConfigFrom } from "../../../gpu-worker/lm/gpt2/config.ts";
import { createCpuEngine } from "../../../gpu-worker/lm/gpt2/cpu_forward.ts";
import { argmax, createGpt2Runner, runnerOver } from "../../../gpu-worker/lm/gpt2/runner.ts";
import { loadGpt2Weights } from "../../../gpu-worker/lm/gpt2/weights.ts";
import { typescriptGemm } from "../../../gpu-worker/blas/gemm.ts";
import { InputError } from "../../../shared/errors.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { blasGemm, noBlas } from "../../helpers/env.ts";
import { gpt2Tokenizer, reference, referenceModel } from "./reference.ts";
import { checkAgainstReference, checkBatchInvariance } from "./runner_checks.ts";

const runner = await createGpt2Runner(referenceModel, { backend: "cpu", tokenizer: gpt2Tokenizer });

Deno.test("cpu GPT-2: pooled embeddings, logits, log-probs and greedy tokens match the float64 torch reference", () =>
  checkAgainstReference(runner, "cpu"));

Deno.test("cpu GPT-2: batch composition and padding change a text's embedding by float32 rounding at most", () =>
  checkBatchInvariance(runner, "cpu", runner.device.includes("openblas") ? "rounding" : "exact"));

Deno.test("cpu GPT-2 on the TypeScript gemm twin: padding and batch composition change no bit of an embedding", async () => {
  const twin = runnerOver(
    createCpuEngine(
      gpt2ConfigFrom(referenceModel.config),
      await loadGpt2Weights(referenceModel),
      typescriptGemm(),
    ),
    gpt2Tokenizer,
  );
  await checkBatchInvariance(twin, "cpu typescript", "exact");
});

Deno.test({
  name: "cpu GPT-2 on OpenBLAS: pooled embeddings, logits and log-probs match the TypeScript gemm twin's",
  ignore: noBlas(),
  async fn() {
    const config = gpt2ConfigFrom(referenceModel.config);
    const weights = await loadGpt2Weights(referenceModel);
    const blas = runnerOver(createCpuEngine(config, weights, blasGemm), gpt2Tokenizer);
    const twin = runnerOver(createCpuEngine(config, weights, typescriptGemm()), gpt2Tokenizer);
    assert.match(blas.device, /openblas/);
    // Same inputs, float32 products summed in different orders: the residual stream drifts by float32 rounding
    // per block (values up to ~10): 1e-4 absolute is ~10 ulps of the largest.
    const tol = { atol: 1e-4, rtol: 1e-4 };
    const [a, b] = [await blas.embed(reference.texts, { batchSize: 3 }), await twin.embed(reference.texts)];
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

Deno.test("cpu GPT-2: greedy generation stops at EOS (excluded) per sequence and honours maxNewTokens", async () => {
  // Pretend prompt 0's second greedy token is EOS: prompt 0 stops before it, the others run on to their own.
  const eos = reference.generated[0][1];
  const eosRunner = runnerOver(
    createCpuEngine(gpt2ConfigFrom(referenceModel.config), await loadGpt2Weights(referenceModel)),
    { ...gpt2Tokenizer, eosTokenId: eos },
  );
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

Deno.test("cpu GPT-2: an empty prompt starts from <|endoftext|>; an empty text cannot be embedded", async () => {
  const [fromEmpty] = await runner.generate([""], { maxNewTokens: 1, stopAtEos: false });
  const eosText = runnerOver(
    createCpuEngine(gpt2ConfigFrom(referenceModel.config), await loadGpt2Weights(referenceModel)),
    { ...gpt2Tokenizer, encode: (text) => text === "<eos>" ? [50256] : gpt2Tokenizer.encode(text) },
  );
  const logits = await eosText.logits(["<eos>"]);
  assert.deepEqual(fromEmpty.tokens, [argmax(logits, 0, logits.length)]);
  await assert.rejects(runner.embed([""]), InputError);
});

Deno.test("cpu GPT-2: a batch larger than the engine's row limit is split, with the same embeddings", async () => {
  const engine = createCpuEngine(
    gpt2ConfigFrom(referenceModel.config),
    await loadGpt2Weights(referenceModel),
  );
  const stepRows: number[] = [];
  const limited = runnerOver({
    ...engine,
    maxRows: 24,
    step: (rows, cache, request) => {
      stepRows.push(rows.ids.length);
      return engine.step(rows, cache, request);
    },
  }, gpt2Tokenizer);
  const progress: number[] = [];
  const split = await limited.embed(reference.texts, {
    batchSize: 5,
    onProgress: (done) => progress.push(done),
  });
  const whole = await runner.embed(reference.texts, { batchSize: 5 });
  // The BLAS path sums a product in an order that may depend on its row count (see checkBatchInvariance).
  split.forEach((layer, l) => assertClose(layer, whole[l], { atol: 1e-5, rtol: 1e-5, label: `layer ${l}` }));
  // Sorted lengths 1, 1, 10, 11, 18: [1, 1, 10] pads to 30 rows > 24, so the batch runs as [1, 1], [10, 11], [18].
  assert.deepEqual(stepRows, [2, 22, 18]);
  assert.deepEqual(progress, [2, 4, 5]);
});
