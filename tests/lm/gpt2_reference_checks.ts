/**
 * The checks the LM engine must pass on GPT-2's float64 reference and the batching invariants, on either
 * backend; gpt2_reference_cpu_test.ts and gpt2_reference_webgpu_test.ts run them with their own runner.
 */
import assert from "node:assert/strict";
import type { LmRunner } from "../../gpu-worker/lm/runner.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { assertNearReference, gpt2Tokenizer, logSumExp, reference, strided } from "./gpt2_reference.ts";

export async function checkAgainstReference(runner: LmRunner, label: string): Promise<void> {
  const { numLayers: L, hiddenSize: D, vocabSize: V } = runner.config;
  assert.deepEqual(reference.texts.map((t) => gpt2Tokenizer.encode(t)), reference.sequences, "token ids");

  const pooled = await runner.embed(reference.texts, { batchSize: 3 });
  assert.equal(pooled.length, L);
  for (let l = 0; l < L; l++) {
    assertNearReference(pooled[l], reference.pooled[l].flat(), `${label} pooled layer ${l}`);
  }

  const logits = await runner.logits(reference.texts, { batchSize: 2 });
  assert.equal(logits.length, reference.texts.length * V);
  reference.texts.forEach((_, i) => {
    assertNearReference(
      strided(logits, i * V, V, reference.logitStride),
      reference.last_logits_strided[i],
      `${label} last-token logits of text ${i}`,
    );
    assertNearReference(
      [logSumExp(logits, i * V, V)],
      [reference.last_logsumexp[i]],
      `${label} logsumexp ${i}`,
    );
  });

  const logProbs = await runner.logProbs(reference.texts, { batchSize: 4 });
  reference.texts.forEach((_, i) => {
    assertNearReference(
      logProbs[i].tokenLogProbs,
      reference.token_logprobs[i],
      `${label} token log-probs ${i}`,
    );
    assert.equal(logProbs[i].count, reference.sequences[i].length - 1);
  });

  const generated = await runner.generate(reference.prompts, {
    maxNewTokens: reference.maxNewTokens,
    stopAtEos: false,
    batchSize: 2,
  });
  assert.deepEqual(generated.map((g) => g.tokens), reference.generated, `${label} greedy tokens`);
  assert.equal(generated[0].text, gpt2Tokenizer.decode(reference.generated[0]));
  assert.ok(D > 0);
}

/**
 * A text's embedding is the same alone, in any batch and at any position of it: bit for bit where each row is
 * computed on its own in a fixed order (the TypeScript twins); within float32 rounding where a BLAS library or a
 * tiled kernel picks its blocking by the product's shape, which the batch changes (OpenBLAS; PyTorch's CPU path
 * behaves the same).
 */
export async function checkBatchInvariance(
  runner: LmRunner,
  label: string,
  match: "exact" | "rounding" = "exact",
): Promise<void> {
  const { numLayers: L, hiddenSize: D } = runner.config;
  const texts = reference.texts;
  const alone = await Promise.all(texts.map((t) => runner.embed([t])));
  const reversed = [...texts].reverse();
  for (const [order, batchSize] of [[texts, 5], [reversed, 2], [texts, 1]] as const) {
    const batched = await runner.embed([...order], { batchSize });
    order.forEach((text, i) => {
      const j = texts.indexOf(text);
      for (let l = 0; l < L; l++) {
        const actual = batched[l].subarray(i * D, (i + 1) * D);
        const what = `${label}: text ${j} layer ${l} in batches of ${batchSize}`;
        // Each row reads only its own sequence, so its neighbours can change no bit on the exact paths; on the
        // BLAS path a product's summation order may change with its row count: a few float32 ulps per block.
        if (match === "exact") assert.deepEqual(actual, alone[j][l], what);
        else assertClose(actual, alone[j][l], { atol: 1e-5, rtol: 1e-5, label: what });
      }
    });
  }
}
