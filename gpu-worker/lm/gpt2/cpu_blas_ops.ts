/**
 * GPT-2's dense operations over a `Gemm` (gpu-worker/blas/gemm.ts): OpenBLAS when the system has it, else the
 * TypeScript twin. Same contracts as the naive ops of cpu_ops.ts (the oracle these are tested against), with
 * float32 products; only the elementwise work (bias, GELU, softmax) stays in TypeScript.
 */
import type { Gemm } from "../../blas/gemm.ts";
import { GELU_CLAMP } from "./cpu_ops.ts";

/** What to do with x·w + bias: store it, store its GELU, or add it to `out` (a residual stream). */
export type LinearMode = "store" | "gelu" | "accumulate";

/**
 * out [M, N] (=, = GELU of, or +=) x [M, K] · w [K, N] + bias [N]. "accumulate" lets the product land on the
 * residual stream directly (beta = 1), saving a pass and a buffer.
 */
export function linearForward(
  gemm: Gemm,
  out: Float32Array, // [M, N]
  x: Float32Array, // [M, K]
  w: Float32Array, // [K, N]
  bias: Float32Array, // [N]
  shape: { m: number; k: number; n: number },
  mode: LinearMode,
): void {
  const { m, k, n } = shape;
  gemm.sgemm({
    transA: false,
    transB: false,
    m,
    n,
    k,
    a: x,
    lda: k,
    b: w,
    ldb: n,
    beta: mode === "accumulate" ? 1 : 0,
    c: out,
    ldc: n,
  });
  if (mode === "gelu") {
    for (let i = 0; i < m; i++) {
      const o = i * n;
      for (let j = 0; j < n; j++) out[o + j] = geluFast(out[o + j] + bias[j]);
    }
  } else {
    for (let i = 0; i < m; i++) {
      const o = i * n;
      for (let j = 0; j < n; j++) out[o + j] += bias[j];
    }
  }
}

/**
 * GELU (tanh form), 0.5·x·(1 + tanh u), with tanh as a rational function (odd degree 13 over even degree 6,
 * clamped at ±7.905 where tanh is ±1 to float32 precision): within 2.6e-7 of Math.tanh and about 4× faster in
 * V8, which matters as GELU runs over every element of the [R, 4D] MLP activation. Below u = −2, 1 + tanh u
 * would lose its digits to cancellation, so the tail uses the exact 1 + tanh u = 2 / (1 + e^(−2u)) instead.
 */
export function geluFast(x: number): number {
  let u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  if (u < -2) {
    if (u < -GELU_CLAMP) u = -GELU_CLAMP; // as geluTanh clamps
    return x / (1 + Math.exp(-2 * u));
  }
  if (u > TANH_CLAMP) u = TANH_CLAMP;
  const u2 = u * u;
  let p = -2.76076847742355e-16;
  p = p * u2 + 2.00018790482477e-13;
  p = p * u2 - 8.60467152213735e-11;
  p = p * u2 + 5.12229709037114e-08;
  p = p * u2 + 1.48572235717979e-05;
  p = p * u2 + 6.37261928875436e-04;
  p = p * u2 + 4.89352455891786e-03;
  let q = 1.19825839466702e-06;
  q = q * u2 + 1.18534705686654e-04;
  q = q * u2 + 2.26843463243900e-03;
  q = q * u2 + 4.89352518554385e-03;
  return 0.5 * x * (1 + (u * p) / q);
}

/** Where the rational tanh is clamped: tanh(7.905) is 1 − 2.7e-7, i.e. 1 in float32. */
const TANH_CLAMP = 7.90531110763549805;

/**
 * Causal multi-head attention with a padding mask, the contract of cpu_ops.ts's `attentionForward`, as two
 * batched products per (run of rows of one sequence, head): scores [r, n] = q_h kᵀ_h / sqrt(D/H) and
 * out_h [r, hd] = softmax(scores) v_h, where a run is consecutive rows of the same sequence (a prefilled text, or
 * one decode row) and n the most keys any of its rows reads; each row's keys beyond its own keyCount get weight 0.
 */
export function attentionBlasForward(
  gemm: Gemm,
  out: Float32Array, // [R, D]
  qkv: Float32Array, // [R, 3D] (queries in columns 0..D)
  kCache: Float32Array, // [S, C, D]
  vCache: Float32Array, // [S, C, D]
  seq: Uint32Array, // [R]
  keyCount: Uint32Array, // [R]
  shape: { rows: number; dim: number; heads: number; capacity: number },
): void {
  const { rows, dim, heads, capacity } = shape;
  const hd = dim / heads;
  const scale = 1 / Math.sqrt(hd);
  let scores = new Float32Array(0);
  for (let r0 = 0; r0 < rows;) {
    let r1 = r0 + 1;
    let n = keyCount[r0];
    while (r1 < rows && seq[r1] === seq[r0]) n = Math.max(n, keyCount[r1++]);
    const m = r1 - r0;
    if (scores.length < m * n) scores = new Float32Array(m * n);
    const base = seq[r0] * capacity * dim;
    for (let h = 0; h < heads; h++) {
      gemm.sgemm({
        transA: false,
        transB: true,
        m,
        n,
        k: hd,
        alpha: scale,
        a: qkv,
        aOffset: r0 * 3 * dim + h * hd,
        lda: 3 * dim,
        b: kCache,
        bOffset: base + h * hd,
        ldb: dim,
        c: scores,
        ldc: n,
      });
      for (let i = 0; i < m; i++) {
        const o = i * n;
        const count = keyCount[r0 + i];
        let max = -Infinity;
        for (let j = 0; j < count; j++) if (scores[o + j] > max) max = scores[o + j];
        let sum = 0;
        for (let j = 0; j < count; j++) {
          const e = Math.exp(scores[o + j] - max);
          scores[o + j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let j = 0; j < count; j++) scores[o + j] *= inv;
        scores.fill(0, o + count, o + n);
      }
      gemm.sgemm({
        transA: false,
        transB: false,
        m,
        n: hd,
        k: n,
        a: scores,
        lda: n,
        b: vCache,
        bOffset: base + h * hd,
        ldb: dim,
        c: out,
        cOffset: r0 * dim + h * hd,
        ldc: dim,
      });
    }
    r0 = r1;
  }
}

/** Tied unembedding of selected rows: out [N, V] = x[rowIndex[i]] · wteᵀ, one product over the gathered rows. */
export function unembedBlasForward(
  gemm: Gemm,
  out: Float32Array, // [N, V]
  x: Float32Array, // [R, D]
  rowIndex: Uint32Array, // [N] rows of x to unembed
  wte: Float32Array, // [V, D]
  shape: { rows: number; dim: number; vocab: number }, // rows = N
): void {
  const { rows, dim, vocab } = shape;
  const gathered = new Float32Array(rows * dim); // [N, D]
  for (let i = 0; i < rows; i++) {
    gathered.set(x.subarray(rowIndex[i] * dim, (rowIndex[i] + 1) * dim), i * dim);
  }
  gemm.sgemm({
    transA: false,
    transB: true,
    m: rows,
    n: vocab,
    k: dim,
    a: gathered,
    lda: dim,
    b: wte,
    ldb: dim,
    c: out,
    ldc: vocab,
  });
}
