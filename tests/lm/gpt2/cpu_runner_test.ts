import assert from "node:assert/strict";
import { gpt2ConfigFrom } from "../../../gpu-worker/lm/gpt2/config.ts";
import { createCpuEngine } from "../../../gpu-worker/lm/gpt2/cpu_forward.ts";
import { argmax, createGpt2Runner, runnerOver } from "../../../gpu-worker/lm/gpt2/runner.ts";
import { loadGpt2Weights } from "../../../gpu-worker/lm/gpt2/weights.ts";
import { InputError } from "../../../shared/errors.ts";
import { gpt2Tokenizer, reference, referenceModel } from "./reference.ts";
import { checkAgainstReference, checkBatchInvariance } from "./runner_checks.ts";

const runner = await createGpt2Runner(referenceModel, { backend: "cpu", tokenizer: gpt2Tokenizer });

Deno.test("cpu GPT-2: pooled embeddings, logits, log-probs and greedy tokens match the float64 torch reference", () =>
  checkAgainstReference(runner, "cpu"));

Deno.test("cpu GPT-2: batch composition and padding never change a text's embedding", () =>
  checkBatchInvariance(runner, "cpu"));

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
  assert.deepEqual(split, await runner.embed(reference.texts, { batchSize: 5 }));
  // Sorted lengths 1, 1, 10, 11, 18: [1, 1, 10] pads to 30 rows > 24, so the batch runs as [1, 1], [10, 11], [18].
  assert.deepEqual(stepRows, [2, 22, 18]);
  assert.deepEqual(progress, [2, 4, 5]);
});
