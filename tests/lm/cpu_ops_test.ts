/**
 * The CPU engine's fast paths (gpu-worker/lm/cpu/ops.ts) against their plain twins, on the TypeScript gemm and on
 * OpenBLAS: the products' accumulate mode (a branch landing on the residual stream), attention as batched
 * products (packed prefill with GQA, and decode rows of different sequences side by side), and the rational-tanh
 * GELU. Shapes that break naive tiling (1 row, odd sizes) and one real GPT-2 layer shape.
 */
import assert from "node:assert/strict";
import { type Gemm, typescriptGemm } from "../../gpu-worker/blas/gemm.ts";
import {
  activationForward,
  attentionBlasForward,
  attentionForward,
  geluFast,
  geluTanh,
  kvWriteForward,
  linearForward,
} from "../../gpu-worker/lm/cpu/ops.ts";
import { createRandom } from "../../gpu-worker/profs/random.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { blasGemm, noBlas } from "../helpers/env.ts";

const random = createRandom(18);
const fill = (n: number, scale = 1) =>
  Float32Array.from({ length: n }, () => scale * (random.next() * 2 - 1));

// float32 products of k terms of |x| ≤ 1 against float64 sums: ≲ k·6e-8; 2e-4 covers k = 3072.
const TOL = { atol: 2e-4, rtol: 1e-4 };

/** Naive out [m, n] = x [m, k] · W + bias in float64, W stored [n, k] (out-in) or [k, n] (in-out). */
function naiveLinear(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  m: number,
  k: number,
  n: number,
  outIn: boolean,
) {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let t = 0; t < k; t++) s += x[i * k + t] * (outIn ? w[j * k + t] : w[t * n + j]);
      out[i * n + j] = s;
    }
  }
  return out;
}

const gemms: [string, Gemm, boolean][] = [["typescript", typescriptGemm(), false], [
  "openblas",
  blasGemm,
  noBlas(),
]];

for (const [name, gemm, ignore] of gemms) {
  Deno.test({
    name: `linearForward (${name}): stored and accumulated products, both layouts, with and without bias`,
    ignore,
    fn() {
      for (const [m, k, n] of [[1, 1, 1], [1, 7, 5], [3, 13, 17], [9, 64, 33], [7, 768, 3072]]) {
        for (const layout of ["out-in", "in-out"] as const) {
          for (const withBias of [true, false]) {
            const x = fill(m * k), w = fill(k * n, 0.1), bias = withBias ? fill(n) : null;
            const product = naiveLinear(x, w, bias, m, k, n, layout === "out-in");
            const shape = { rows: m, inFeatures: k, outFeatures: n };
            const stored = new Float32Array(m * n).fill(NaN);
            linearForward(gemm, stored, x, w, bias, shape, layout);
            const label = `${layout} bias=${withBias} m=${m} k=${k} n=${n}`;
            assertClose(stored, product, { ...TOL, label: `store ${label}` });
            const start = fill(m * n);
            const accumulated = start.slice();
            linearForward(gemm, accumulated, x, w, bias, shape, layout, true);
            assertClose(accumulated, product.map((p, i) => p + start[i]), {
              ...TOL,
              label: `accumulate ${label}`,
            });
          }
        }
      }
    },
  });

  Deno.test({
    name: `attentionBlasForward (${name}): packed prefill (GQA) and decode rows equal attentionForward`,
    ignore,
    fn() {
      for (
        const [heads, kvHeads, hd, lengths] of [
          [2, 2, 4, [1, 5, 3]],
          [3, 1, 4, [7]],
          [4, 2, 5, [2, 9]],
          [12, 12, 64, [1, 19, 4]],
        ] as const
      ) {
        const qDim = heads * hd, kvDim = kvHeads * hd, scale = 1 / Math.sqrt(hd);
        const shape = { heads, kvHeads, headDim: hd };
        // Packed prefill: every text's rows contiguous, keys = the text's rows up to and including the row.
        const R = lengths.reduce((a, b) => a + b, 0);
        const keyStart = new Uint32Array(R), keyCount = new Uint32Array(R);
        let row = 0;
        for (const n of lengths) {
          for (let t = 0; t < n; t++) [keyStart[row + t], keyCount[row + t]] = [row, t + 1];
          row += n;
        }
        const q = fill(R * qDim), k = fill(R * kvDim), v = fill(R * kvDim);
        const expected = new Float32Array(R * qDim), actual = new Float32Array(R * qDim).fill(NaN);
        attentionForward(expected, q, k, v, keyStart, keyCount, { rows: R, ...shape }, scale);
        attentionBlasForward(gemm, actual, q, k, v, keyStart, keyCount, { rows: R, ...shape }, scale);
        const label = `H=${heads} Hkv=${kvHeads} hd=${hd} lengths=${lengths}`;
        assertClose(actual, expected, { ...TOL, label: `prefill ${label}` });

        // Decode: one row per sequence, in a KV store of C slots per sequence, sequences in reverse order.
        const S = lengths.length, C = Math.max(...lengths) + 2;
        const kStore = fill(S * C * kvDim), vStore = fill(S * C * kvDim);
        const seqs = lengths.map((_, b) => S - 1 - b);
        const dq = fill(S * qDim), dk = fill(S * kvDim), dv = fill(S * kvDim);
        const slot = Uint32Array.from(seqs, (s, b) => s * C + lengths[b]);
        kvWriteForward(kStore, vStore, dk, dv, slot, { rows: S, kvDim });
        const start = Uint32Array.from(seqs, (s) => s * C);
        const count = Uint32Array.from(lengths, (n) => n + 1);
        const want = new Float32Array(S * qDim), got = new Float32Array(S * qDim).fill(NaN);
        attentionForward(want, dq, kStore, vStore, start, count, { rows: S, ...shape }, scale);
        attentionBlasForward(gemm, got, dq, kStore, vStore, start, count, { rows: S, ...shape }, scale);
        assertClose(got, want, { ...TOL, label: `decode ${label}` });
      }
    },
  });
}

Deno.test("geluTanh is finite for huge inputs and matches the tanh formula in its normal range", () => {
  assert.ok(Math.abs(geluTanh(1e4) / 1e4 - 1) < 1e-12);
  assert.ok(Math.abs(geluTanh(-1e4)) < 1e-8);
  assert.ok(Math.abs(geluTanh(1e300) / 1e300 - 1) < 1e-12); // x³ overflows to Infinity; the clamp holds
  assert.ok(Number.isFinite(geluTanh(-1e300)));
  assert.ok(Math.abs(geluTanh(1) - 0.8411919906082768) < 1e-12);
});

Deno.test("geluFast is within float32 rounding of the tanh GELU everywhere, including far into both tails", () => {
  const xs: number[] = [];
  for (let x = -30; x <= 30; x += 1e-3) xs.push(x);
  xs.push(-1e4, 1e4, 0);
  // The rational tanh is within 2.6e-7 of Math.tanh (float32 rounding) and used only for u ≥ −2 (x > −1.9),
  // where GELU's absolute error is at most 2.6e-7·|x|/2 (2.5e-7 near x = −1.9) and its relative error 1.3e-7
  // for large x; the negative tail is computed exactly.
  const actual = xs.map(geluFast), expected = xs.map(geluTanh);
  assertClose(actual, expected, { atol: 2.5e-7, rtol: 2e-7, label: "gelu" });
  const x = Float32Array.from(xs);
  const want = Float32Array.from(x, geluFast);
  activationForward(x, "gelu-tanh", x.length);
  assertClose(x, want, { atol: 0, rtol: 0, label: "activationForward GELU" });
});
