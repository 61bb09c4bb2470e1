/**
 * The WebGPU LM engine against the float64 transformers references of tests/fixtures/lm/ (the same fixtures and
 * tolerance as the CPU engine's test): every block's hidden states, pooled embeddings, last-token logits,
 * log-probabilities and greedy tokens, for every family variant (F32, F16, BF16 weights on the device as stored;
 * GQA; partial interleaved rotary; tied and untied heads; q/k norm), with chunks small enough that a block runs
 * over several chunks of padded texts. And the memory bound: a run fits a device budget smaller than the model.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createWebGpuLm } from "../../gpu-worker/lm/webgpu/engine.ts";
import { blockBytes, folderSource } from "../../gpu-worker/lm/webgpu/weights.ts";
import { CapacityError } from "../../shared/errors.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { testGpu } from "../kernels/kernel_harness.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));
const FIXTURE_VERSION = 1;

interface Expected {
  version: number;
  ids: number[][];
  prompts: number[];
  hidden: number[][][]; // [L][N][T·D]
  pooled: number[][]; // [L][N·D]
  last_logits: number[]; // [N·V]
  log_probs: number[][];
  greedy: number[][];
}

const VARIANTS = [
  "gpt2", // learned positions, fused Conv1D attention split on upload, GELU-tanh, tied head
  "llama-gqa", // GQA 4/2, half-split rotary, SwiGLU, untied head
  "llama3-bf16", // BF16 weights, llama3 rope scaling, 1 kv head, tied head
  "mistral-f16", // F16 weights, linear rope scaling
  "llama-bias", // attention_bias (q/k/v/o) and mlp_bias, 3 heads of 8
  "qwen2", // q/k/v biases, θ = 1e6
  "qwen3-bf16", // per-head q/k RMSNorm, head_dim ≠ D/H, BF16
  "gptj", // parallel block, interleaved partial rotary, untied head with bias
  "opt", // learned positions +2, ReLU
  "opt-f16", // F16 weights
];

/**
 * The engine computes in float32 against float64 references from the same stored weights: 1e-4 of the tensor's
 * largest magnitude is ~1,000 float32 ulps, ample for 2-block models and far below a wrong term (~1e-1).
 */
function close(actual: ArrayLike<number>, expected: number[], label: string) {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assertClose(actual, expected, { atol: 1e-4 * scale, rtol: 1e-4, label });
}

for (const variant of VARIANTS) {
  Deno.test({
    name: `the WebGPU engine matches transformers' float64 reference: ${variant}`,
    ignore: noGpu(),
    async fn() {
      const dir = FIXTURES + variant;
      const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      assert.equal(expected.version, FIXTURE_VERSION);
      const folder = await openModelFolder(dir);
      try {
        const family = lmFamilyFrom(folder.config, `model '${dir}'`);
        // 40 rows per chunk: texts of 13..34 tokens make several chunks, padded to their longest text.
        const engine = await createWebGpuLm(family, folderSource(folder), {
          gpu: await testGpu(),
          maxChunkRows: 40,
        });
        const ids = expected.ids;
        const { pooled, hidden } = await engine.embed(ids, { hidden: true });
        for (let l = 0; l < family.numLayers; l++) {
          ids.forEach((_, n) =>
            close(hidden![l][n], expected.hidden[l][n], `hidden states after block ${l}, text ${n}`)
          );
          close(pooled[l], expected.pooled[l], `pooled embeddings after block ${l}`);
        }
        const [last] = (await engine.embed(ids, { layers: [family.numLayers - 1] })).pooled;
        close(last, expected.pooled[family.numLayers - 1], "pooled embeddings of one requested block");
        close(await engine.lastLogits(ids), expected.last_logits, "last-token logits");
        (await engine.logProbs(ids)).forEach((lp, n) =>
          close(lp, expected.log_probs[n], `log-probs of text ${n}`)
        );
        const greedy = await engine.generate(expected.prompts.map((p) => ids[p]), expected.greedy[0].length);
        assert.deepEqual(greedy, expected.greedy, "greedy tokens");
        engine.dispose();
      } finally {
        await folder.close();
      }
    },
  });
}

Deno.test({
  name:
    "the WebGPU engine embeds within a device budget smaller than the model's weights, and refuses a smaller one",
  ignore: noGpu(),
  async fn() {
    const dir = FIXTURES + "llama-gqa";
    const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
    const folder = await openModelFolder(dir);
    try {
      const family = lmFamilyFrom(folder.config, "llama-gqa");
      const source = folderSource(folder);
      const total = folder.tensorNames().reduce((sum, name) => {
        const info = folder.tensorInfo(name);
        return sum + info.shape.reduce((a, b) => a * b, 1) * (info.dtype === "F32" ? 4 : 2);
      }, 0);
      const block = blockBytes(family, source, 0);
      // One block plus the activations of two short texts: well under the whole model (embedding, head, 2 blocks).
      const budget = block + 50_000;
      assert.ok(
        budget < total,
        `budget ${budget} must be below the model's ${total} bytes for the test to mean anything`,
      );
      const gpu = await testGpu();
      gpu.buffers.trim();
      const before = gpu.buffers.ownedBytes;
      const engine = await createWebGpuLm(family, source, { gpu, deviceBudgetBytes: budget });
      const texts = [expected.ids[0], expected.ids[3]];
      const { pooled } = await engine.embed(texts, { layers: [1] });
      const reference = [0, 3].flatMap((n) =>
        expected.pooled[1].slice(n * family.hiddenSize, (n + 1) * family.hiddenSize)
      );
      close(pooled[0], reference, "pooled embeddings under the budget");
      assert.ok(engine.peakDeviceBytes <= budget, `held ${engine.peakDeviceBytes} bytes, budget ${budget}`);
      const allocated = gpu.buffers.ownedBytes - before;
      assert.ok(allocated <= budget, `the device allocated ${allocated} bytes for the run, budget ${budget}`);
      await assert.rejects(
        createWebGpuLm(family, source, { gpu, deviceBudgetBytes: block }).then((e) => e.embed(texts)),
        (error: Error) =>
          error instanceof CapacityError && error.resource === "device_memory" &&
          /must fit the device budget of \d+ bytes/.test(error.message),
      );
    } finally {
      await folder.close();
    }
  },
});

Deno.test({
  name:
    "the WebGPU engine splits the head and the token table across bindings: logits, log-probs, greedy unchanged",
  ignore: noGpu(),
  async fn() {
    for (const variant of ["gpt2", "llama-gqa"]) { // tied head (fused attention) and untied head
      const dir = FIXTURES + variant;
      const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      const folder = await openModelFolder(dir);
      try {
        const family = lmFamilyFrom(folder.config, variant);
        // 4 KiB bindings: 16-row head slices over a vocabulary of ~380, 32-row token-table slices.
        const engine = await createWebGpuLm(family, folderSource(folder), {
          gpu: await testGpu(),
          maxBindingBytes: 4096,
        });
        const ids = expected.ids;
        close(await engine.lastLogits(ids), expected.last_logits, `${variant} last-token logits`);
        (await engine.logProbs(ids)).forEach((lp, n) =>
          close(lp, expected.log_probs[n], `${variant} log-probs ${n}`)
        );
        const greedy = await engine.generate(expected.prompts.map((p) => ids[p]), expected.greedy[0].length);
        assert.deepEqual(greedy, expected.greedy, `${variant} greedy tokens`);
      } finally {
        await folder.close();
      }
    }
  },
});

Deno.test({
  name: "the WebGPU engine generates by streaming blocks when the whole model does not fit the budget",
  ignore: noGpu(),
  async fn() {
    const dir = FIXTURES + "llama-gqa";
    const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
    const folder = await openModelFolder(dir);
    try {
      const family = lmFamilyFrom(folder.config, "llama-gqa");
      // The resident model (2 blocks, head, token table: ~160 KB) does not fit; the head or one block plus the
      // activations of one prompt does.
      const budget = 110_000;
      const engine = await createWebGpuLm(family, folderSource(folder), {
        gpu: await testGpu(),
        deviceBudgetBytes: budget,
      });
      const prompt = expected.ids[expected.prompts[0]];
      const [greedy] = await engine.generate([prompt], expected.greedy[0].length);
      assert.deepEqual(greedy, expected.greedy[0]);
      assert.ok(engine.peakDeviceBytes <= budget, `held ${engine.peakDeviceBytes} bytes, budget ${budget}`);
    } finally {
      await folder.close();
    }
  },
});
