/**
 * The GEMM-based GPT-2 ops (cpu_blas_ops.ts) against the naive twins of cpu_ops.ts, on the OpenBLAS path and on
 * the TypeScript gemm, with shapes that break naive tiling (1 row, odd sizes) and one real GPT-2 layer shape.
 */
import { type Gemm, typescriptGemm } from "../../../gpu-worker/blas/gemm.ts";
import {
  attentionBlasForward,
  geluFast,
  linearForward,
  unembedBlasForward,
} from "../../../gpu-worker/lm/gpt2/cpu_blas_ops.ts";
import {
  attentionForward,
  geluTanh,
  kvWriteForward,
  matmulForward,
  residualForward,
  unembedForward,
} from "../../../gpu-worker/lm/gpt2/cpu_ops.ts";
import { prefillRows } from "../../../gpu-worker/lm/gpt2/rows.ts";
import { createRandom } from "../../../gpu-worker/profs/random.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { blasGemm, noBlas } from "../../helpers/env.ts";

const random = createRandom(18);
const fill = (n: number, scale = 1) =>
  Float32Array.from({ length: n }, () => scale * (random.next() * 2 - 1));

// float32 products of k terms of |x| ≤ 1 against the twins' float64 sums: ≲ k·6e-8; 2e-4 covers k = 3072.
const TOL = { atol: 2e-4, rtol: 1e-4 };

const gemms: [string, Gemm, boolean][] = [["typescript", typescriptGemm(), false], [
  "openblas",
  blasGemm,
  noBlas(),
]];

for (const [name, gemm, ignore] of gemms) {
  Deno.test({
    name: `linearForward (${name}): store, GELU and accumulate equal matmulForward (+ residual)`,
    ignore,
    fn() {
      for (const [m, k, n] of [[1, 1, 1], [1, 7, 5], [3, 13, 17], [9, 64, 33], [7, 768, 3072]]) {
        const x = fill(m * k), w = fill(k * n, 0.1), bias = fill(n);
        for (const mode of ["store", "gelu", "accumulate"] as const) {
          const start = fill(m * n);
          const expected = new Float32Array(m * n);
          matmulForward(expected, x, w, bias, { m, k, n }, mode === "gelu");
          if (mode === "accumulate") residualForward(expected, start, m * n);
          const actual = mode === "accumulate" ? start.slice() : new Float32Array(m * n).fill(NaN);
          linearForward(gemm, actual, x, w, bias, { m, k, n }, mode);
          assertClose(actual, expected, { ...TOL, label: `${mode} m=${m} k=${k} n=${n}` });
        }
      }
    },
  });

  Deno.test({
    name: `attentionBlasForward (${name}): padded prefill and decode rows equal attentionForward`,
    ignore,
    fn() {
      for (const [dim, heads, lengths] of [[8, 2, [1, 5, 3]], [12, 3, [7]], [768, 12, [1, 19, 4]]] as const) {
        const rows = prefillRows(lengths.map((n) => Array.from({ length: n }, () => 0)), 1024);
        const R = rows.ids.length, C = rows.tokens + 2, S = rows.numSeqs;
        const qkv = fill(R * 3 * dim);
        const k = new Float32Array(S * C * dim), v = new Float32Array(S * C * dim);
        kvWriteForward(k, v, qkv, rows.seq, rows.pos, { rows: R, dim, capacity: C });
        const shape = { rows: R, dim, heads, capacity: C };
        const expected = new Float32Array(R * dim);
        attentionForward(expected, qkv, k, v, rows.seq, rows.keyCount, shape);
        const actual = new Float32Array(R * dim).fill(NaN);
        attentionBlasForward(gemm, actual, qkv, k, v, rows.seq, rows.keyCount, shape);
        assertClose(actual, expected, { ...TOL, label: `prefill D=${dim} H=${heads} lengths=${lengths}` });

        // One decode row per sequence, in reverse slot order (rows of different sequences side by side).
        const slots = lengths.map((_, b) => S - 1 - b);
        const q = fill(S * 3 * dim);
        const pos = Uint32Array.from(slots, (b) => lengths[b]);
        kvWriteForward(k, v, q, Uint32Array.from(slots), pos, { rows: S, dim, capacity: C });
        const count = Uint32Array.from(pos, (p) => p + 1);
        const dec = { rows: S, dim, heads, capacity: C };
        const want = new Float32Array(S * dim);
        attentionForward(want, q, k, v, Uint32Array.from(slots), count, dec);
        const got = new Float32Array(S * dim);
        attentionBlasForward(gemm, got, q, k, v, Uint32Array.from(slots), count, dec);
        assertClose(got, want, { ...TOL, label: `decode D=${dim} H=${heads}` });
      }
    },
  });

  Deno.test({
    name: `unembedBlasForward (${name}): selected rows equal unembedForward`,
    ignore,
    fn() {
      const [R, D, V] = [7, 24, 101];
      const x = fill(R * D), wte = fill(V * D);
      const rowIndex = Uint32Array.from([6, 0, 3]);
      const expected = new Float32Array(3 * V), actual = new Float32Array(3 * V).fill(NaN);
      unembedForward(expected, x, rowIndex, wte, { rows: 3, dim: D, vocab: V });
      unembedBlasForward(gemm, actual, x, rowIndex, wte, { rows: 3, dim: D, vocab: V });
      assertClose(actual, expected, { ...TOL, label: "logits" });
    },
  });
}

Deno.test("geluFast is within float32 rounding of the tanh GELU everywhere, including far into both tails", () => {
  const xs: number[] = [];
  for (let x = -30; x <= 30; x += 1e-3) xs.push(x);
  xs.push(-1e4, 1e4, 0);
  // The rational tanh is within 2.6e-7 of Math.tanh (float32 rounding) and used only for u ≥ −2 (x > −1.9),
  // where GELU's absolute error is at most 2.6e-7·|x|/2 (2.5e-7 near x = −1.9) and its relative error 1.3e-7
  // for large x; the negative tail is computed exactly.
  const actual = xs.map(geluFast), expected = xs.map(geluTanh);
  assertClose(actual, expected, { atol: 2.5e-7, rtol: 2e-7, label: "gelu" });
});
