/**
 * The checks every backend must pass against the float64 reference and the batching invariants; the CPU and
 * WebGPU test files run them with their own runner.
 */
import assert from "node:assert/strict";
import type { Gpt2Runner } from "../../../gpu-worker/lm/gpt2/runner.ts";
import { assertNearReference, gpt2Tokenizer, logSumExp, reference, strided } from "./reference.ts";

export async function checkAgainstReference(runner: Gpt2Runner, label: string): Promise<void> {
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

/** A text's embedding is the same alone, in any batch, at any position, with any amount of padding. */
export async function checkBatchInvariance(runner: Gpt2Runner, label: string): Promise<void> {
  const { numLayers: L, hiddenSize: D } = runner.config;
  const texts = reference.texts;
  const alone = await Promise.all(texts.map((t) => runner.embed([t])));
  const reversed = [...texts].reverse();
  for (const [order, batchSize] of [[texts, 5], [reversed, 2], [texts, 1]] as const) {
    const batched = await runner.embed([...order], { batchSize });
    order.forEach((text, i) => {
      const j = texts.indexOf(text);
      for (let l = 0; l < L; l++) {
        // Each row reads only its own sequence in a fixed order, so padding cannot change a single bit.
        assert.deepEqual(
          batched[l].subarray(i * D, (i + 1) * D),
          alone[j][l],
          `${label}: text ${j} layer ${l} in batches of ${batchSize}`,
        );
      }
    });
  }
}
