/**
 * Each GPT-2 WGSL kernel against its CPU twin (gpu-worker/lm/gpt2/cpu_ops.ts) on shapes that break naive kernels:
 * one row, sizes that are not multiples of 4 or of the workgroup, padded and decode row layouts, a split
 * vocabulary, and real GPT-2-small shapes. Twin-only properties (GELU never NaN) always run.
 */
import assert from "node:assert/strict";
import * as ops from "../../../gpu-worker/lm/gpt2/cpu_ops.ts";
import {
  encodeAttention,
  encodeEmbedding,
  encodeKvWrite,
  encodeLayerNorm,
  encodeLogProb,
  encodeMatmul,
  encodeMeanPool,
  encodeResidual,
  encodeUnembed,
  type Gpt2Kernels,
  loadGpt2Kernels,
  type WteSlice,
} from "../../../gpu-worker/lm/gpt2/kernels.ts";
import { decodeRows, prefillRows } from "../../../gpu-worker/lm/gpt2/rows.ts";
import { acquireGpu, type ComputeBatch, type Gpu } from "../../../gpu-worker/runtime/mod.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { gpuAdapter, noGpu } from "../../helpers/env.ts";

function random(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = scale * (s / 2 ** 32 * 2 - 1);
  }
  return out;
}

/**
 * The kernels sum in float32 in a different order than the twins' float64: errors grow like √K·2⁻²⁴ relative
 * to the tensor's scale, well under 1e-5 for K ≤ 3072.
 */
function assertKernel(actual: Float32Array, expected: Float32Array, label: string): void {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assertClose(actual, expected, { rtol: 1e-5, atol: 1e-5 * scale, label });
}

let shared: { gpu: Gpu; kernels: Gpt2Kernels } | null = null;
async function setup() {
  if (!shared) {
    const gpu = (await acquireGpu({ adapter: gpuAdapter! }))!;
    shared = { gpu, kernels: await loadGpt2Kernels(gpu) };
  }
  return shared;
}

/** Uploads inputs, records `encode`, submits and reads `output` back. */
async function run(
  encode: (k: Gpt2Kernels, batch: ComputeBatch, buffers: GPUBuffer[]) => void,
  inputs: (Float32Array | Int32Array | Uint32Array)[],
  outputLength: number,
): Promise<Float32Array> {
  const { gpu, kernels } = await setup();
  const buffers = inputs.map((data) => gpu.upload(data));
  const out = gpu.storage(outputLength * 4);
  try {
    const batch = gpu.batch("test");
    encode(kernels, batch, [...buffers, out]);
    await batch.submit();
    const [values] = await gpu.read([{ buffer: out, length: outputLength }]);
    return values;
  } finally {
    gpu.release(...buffers, out);
  }
}

Deno.test("geluTanh is finite for huge inputs and matches the tanh formula in its normal range", () => {
  assert.ok(Math.abs(ops.geluTanh(1e4) / 1e4 - 1) < 1e-12);
  assert.ok(Math.abs(ops.geluTanh(-1e4)) < 1e-8);
  assert.ok(Math.abs(ops.geluTanh(1e300) / 1e300 - 1) < 1e-12); // x³ overflows to Infinity; the clamp holds
  assert.ok(Number.isFinite(ops.geluTanh(-1e300)));
  assert.ok(Math.abs(ops.geluTanh(1) - 0.8411919906082768) < 1e-12);
});

const gpuTest = (name: string, fn: () => Promise<void>) => Deno.test({ name, ignore: noGpu(), fn });

gpuTest("gpt2_layernorm matches its twin for 1 row, odd widths and GPT-2's 768", async () => {
  for (const [rows, cols] of [[1, 10], [3, 7], [5, 768]]) {
    const x = random(rows * cols, rows + cols, 3);
    const gamma = random(cols, 7);
    const beta = random(cols, 8);
    const expected = new Float32Array(rows * cols);
    ops.layerNormForward(expected, x, gamma, beta, { rows, cols }, 1e-5);
    const actual = await run(
      (k, b, [xb, g, bb, out]) => encodeLayerNorm(k, b, out, xb, g, bb, { rows, cols }, 1e-5),
      [x, gamma, beta],
      rows * cols,
    );
    assertKernel(actual, expected, `layernorm ${rows}×${cols}`);
  }
});

gpuTest(
  "gpt2_matmul (+GELU) matches its twin for T=1, odd sizes and GPT-2-small's c_fc, with no NaN",
  async () => {
    const cases: [number, number, number, boolean, number][] = [
      [1, 10, 30, false, 1],
      [5, 7, 13, true, 1],
      [17, 33, 19, true, 40], // scale 40 puts GELU's tanh argument far past the clamp
      [3, 768, 3072, true, 1],
    ];
    for (const [m, k, n, gelu, scale] of cases) {
      const x = random(m * k, m + k + n, scale);
      const w = random(k * n, k * n, 1 / Math.sqrt(k) * 3);
      const bias = random(n, n);
      const expected = new Float32Array(m * n);
      ops.matmulForward(expected, x, w, bias, { m, k, n }, gelu);
      const actual = await run(
        (kk, b, [xb, wb, bb, out]) => encodeMatmul(kk, b, out, xb, wb, bb, { m, k, n }, gelu),
        [x, w, bias],
        m * n,
      );
      assert.ok(actual.every(Number.isFinite), `matmul ${m}×${k}×${n} finite`);
      assertKernel(actual, expected, `matmul ${m}×${k}×${n} gelu=${gelu}`);
    }
  },
);

gpuTest("gpt2_embed gathers token + position rows across vocabulary slices", async () => {
  const [V, P, D] = [50, 9, 6];
  const wte = random(V * D, 1);
  const wpe = random(P * D, 2);
  const rows = prefillRows([[0, 49, 17], [25], [24, 26, 3, 3, 48]], P);
  const R = rows.ids.length;
  const expected = new Float32Array(R * D);
  ops.embeddingForward(expected, rows.ids, rows.pos, wte, wpe, { rows: R, dim: D });
  const { gpu } = await setup();
  const slices: WteSlice[] = [0, 25].map((start) => ({
    buffer: gpu.upload(wte.subarray(start * D, (start + 25) * D)),
    start,
    rows: 25,
  }));
  try {
    const actual = await run(
      (k, b, [ids, pos, wpeB, out]) =>
        encodeEmbedding(k, b, out, ids, pos, slices, wpeB, { rows: R, dim: D }),
      [rows.ids, rows.pos, wpe],
      R * D,
    );
    assertKernel(actual, expected, "embedding");
  } finally {
    gpu.release(...slices.map((s) => s.buffer));
  }
});

gpuTest("gpt2_kv_write and gpt2_attention match their twins for padded prefill and decode rows", async () => {
  for (const [D, H] of [[10, 2], [768, 12]]) {
    const capacity = 7;
    const prefill = prefillRows([[1, 2, 3], [4], [5, 6, 7, 8, 9]], 64);
    const decode = decodeRows([2, 0], [11, 12], [5, 3]);
    const S = 3;
    const kExpected = new Float32Array(S * capacity * D);
    const vExpected = new Float32Array(S * capacity * D);
    const { gpu, kernels } = await setup();
    const kCache = gpu.storage(S * capacity * D * 4);
    const vCache = gpu.storage(S * capacity * D * 4);
    try {
      for (const [label, rows] of [["prefill", prefill], ["decode", decode]] as const) {
        const R = rows.ids.length;
        const qkv = random(R * 3 * D, R + D, 2);
        const shape = { rows: R, dim: D, heads: H, capacity };
        ops.kvWriteForward(kExpected, vExpected, qkv, rows.seq, rows.pos, shape);
        const expected = new Float32Array(R * D);
        ops.attentionForward(expected, qkv, kExpected, vExpected, rows.seq, rows.keyCount, shape);
        const inputs = [qkv, rows.seq, rows.pos, rows.keyCount].map((a) => gpu.upload(a));
        const out = gpu.storage(R * D * 4);
        try {
          const [qkvB, seq, pos, keyCount] = inputs;
          const batch = gpu.batch("test");
          encodeKvWrite(kernels, batch, kCache, vCache, qkvB, seq, pos, shape);
          encodeAttention(kernels, batch, out, qkvB, kCache, vCache, seq, keyCount, shape);
          await batch.submit();
          const [actual] = await gpu.read([{ buffer: out, length: R * D }]);
          assertKernel(actual, expected, `attention ${label} D=${D} H=${H}`);
          // Only written cache slots are compared: the rest of the pooled buffers' contents are unspecified.
          const [k] = await gpu.read([{ buffer: kCache, length: S * capacity * D }]);
          for (let r = 0; r < R; r++) {
            const at = (rows.seq[r] * capacity + rows.pos[r]) * D;
            assertKernel(k.subarray(at, at + D), kExpected.subarray(at, at + D), `k cache ${label} row ${r}`);
          }
        } finally {
          gpu.release(...inputs, out);
        }
      }
    } finally {
      gpu.release(kCache, vCache);
    }
  }
});

gpuTest("gpt2_residual and gpt2_pool match their twins; padding rows never reach the mean", async () => {
  const D = 10;
  const rows = prefillRows([[1, 2, 3], [4], [5, 6]], 64);
  const R = rows.ids.length;
  const x = random(R * D, 3);
  const y = random(R * D, 4);
  const sum = x.slice();
  ops.residualForward(sum, y, R * D);
  const added = await run(
    (k, b, [xb, yb, out]) => {
      encodeResidual(k, b, xb, yb, R * D);
      b.copy(xb, out, R * D * 4);
    },
    [x, y],
    R * D,
  );
  assertKernel(added, sum, "residual");

  const poison = x.slice();
  for (let r = 0; r < R; r++) {
    if (rows.pos[r] >= rows.lengths[rows.seq[r]]) poison.fill(1e30, r * D, (r + 1) * D);
  }
  const expected = new Float32Array(3 * D);
  ops.meanPoolForward(expected, x, rows.lengths, { seqs: 3, tokens: rows.tokens, dim: D });
  const pooled = await run(
    (k, b, [xb, lengths, out]) =>
      encodeMeanPool(k, b, out, xb, lengths, { seqs: 3, tokens: rows.tokens, dim: D, layer: 1 }),
    [poison, rows.lengths],
    2 * 3 * D,
  );
  assertKernel(pooled.subarray(3 * D), expected, "pool (layer 1 slice)");
});

gpuTest("gpt2_unembed over vocabulary slices and gpt2_logprob match their twins", async () => {
  const [R, D, V] = [5, 10, 103];
  const x = random(R * D, 5);
  const wte = random(V * D, 6);
  const rowIndex = Uint32Array.from([4, 0, 2]);
  const targets = Int32Array.from([0, 102, 51]);
  const expected = new Float32Array(3 * V);
  ops.unembedForward(expected, x, rowIndex, wte, { rows: 3, dim: D, vocab: V });
  const expectedLogProbs = new Float32Array(3);
  ops.logProbForward(expectedLogProbs, expected, targets, { rows: 3, vocab: V });
  const { gpu } = await setup();
  const slices: WteSlice[] = [[0, 40], [40, 40], [80, 23]].map(([start, rows]) => ({
    buffer: gpu.upload(wte.subarray(start * D, (start + rows) * D)),
    start,
    rows,
  }));
  try {
    const logits = await run(
      (k, b, [xb, idx, out]) => encodeUnembed(k, b, out, xb, idx, slices, { rows: 3, dim: D, vocab: V }),
      [x, rowIndex],
      3 * V,
    );
    assertKernel(logits, expected, "unembed");
    const logProbs = await run(
      (k, b, [l, t, out]) => encodeLogProb(k, b, out, l, t, { rows: 3, vocab: V }),
      [expected, targets],
      3,
    );
    assertKernel(logProbs, expectedLogProbs, "log-probs");
  } finally {
    gpu.release(...slices.map((s) => s.buffer));
  }
});

Deno.test({
  name: "release the shared test device",
  ignore: noGpu(),
  fn() {
    shared?.gpu.dispose();
    shared = null;
  },
});
