/**
 * embedTexts end to end: a model folder on disk (the reference model's weights, GPT-2's real tokenizer.json read
 * by the project's tokenizer) → per-block pooled embeddings equal to the float64 torch reference on both backends;
 * progress as blocks finish, abort, and input errors.
 */
import assert from "node:assert/strict";
import { embedTexts } from "../../gpu-worker/lm/embed.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { InputError } from "../../shared/errors.ts";
import { noGpu } from "../helpers/env.ts";
import { assertNearReference, reference, withReferenceFolder } from "./gpt2_reference.ts";
import { COMPUTE_BACKENDS } from "../../gpu-worker/runtime/backends.ts";

Deno.test("the project's GPT-2 tokenizer gives the token ids the torch reference was computed on", async () => {
  await withReferenceFolder(async (model) => {
    const tokenizer = await loadTokenizer(model.dir);
    assert.deepEqual(reference.texts.map((t) => tokenizer.encode(t)), reference.sequences);
  });
});

for (const backend of COMPUTE_BACKENDS) {
  Deno.test({
    name:
      `embedTexts(${backend}) on a model folder matches the torch reference and reports progress up to the total`,
    ignore: backend === "webgpu" && noGpu(),
    async fn() {
      await withReferenceFolder(async (model) => {
        const progress: [number, number][] = [];
        const pooled = await embedTexts(model, reference.texts, {
          maxTokens: 128,
          backend,
          onProgress: (done, total) => progress.push([done, total]),
        });
        assert.equal(pooled.length, model.numLayers);
        pooled.forEach((layer, l) => {
          assert.equal(layer.length, reference.texts.length * model.hiddenSize);
          assertNearReference(layer, reference.pooled[l].flat(), `${backend} embedTexts layer ${l}`);
        });
        assert.ok(progress.length >= 2, `progress reported ${progress.length} times`);
        assert.deepEqual(progress.at(-1), [5, 5]);
        progress.forEach(([done], i) =>
          assert.ok(i === 0 || done >= progress[i - 1][0], "progress never goes back")
        );
      });
    },
  });
}

Deno.test("embedTexts truncates every text to maxTokens before pooling", async () => {
  await withReferenceFolder(async (model) => {
    const long = reference.texts[2]; // 11 tokens
    const tokenizer = await loadTokenizer(model.dir);
    const prefix = tokenizer.decode(tokenizer.encode(long).slice(0, 4));
    const [truncated, short] = await Promise.all([
      embedTexts(model, [long], { maxTokens: 4, backend: "cpu" }),
      embedTexts(model, [prefix], { maxTokens: 128, backend: "cpu" }),
    ]);
    assert.deepEqual(truncated, short);
  });
});

Deno.test("embedTexts stops with the signal's reason when aborted between blocks", async () => {
  await withReferenceFolder(async (model) => {
    const controller = new AbortController();
    const reason = new Error("canceled by the user");
    await assert.rejects(
      embedTexts(model, reference.texts, {
        maxTokens: 128,
        backend: "cpu",
        signal: controller.signal,
        onProgress: () => controller.abort(reason),
      }),
      (error) => error === reason,
    );
  });
});

Deno.test("embedTexts rejects an empty text and a non-positive maxTokens with an InputError", async () => {
  await withReferenceFolder(async (model) => {
    await assert.rejects(embedTexts(model, ["fine", ""], { maxTokens: 128, backend: "cpu" }), InputError);
    await assert.rejects(embedTexts(model, ["fine"], { maxTokens: 0, backend: "cpu" }), InputError);
  });
});
