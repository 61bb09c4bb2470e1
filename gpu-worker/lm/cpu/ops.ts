/**
 * The LM engine's operations in plain TypeScript, one small function each, every argument with its shape. Rows
 * are token rows (one token of one text); the attention's keys of row r are rows keyStart[r] .. keyStart[r] +
 * keyCount[r] − 1 of a key/value store, which is how both a packed batch (every text's rows contiguous, no padding)
 * and a KV cache ([S, C] slots) express the causal and padding mask. Dense products go through `Gemm`.
 */
import type { Gemm } from "../../blas/gemm.ts";

/**
 * out [R, N] = x [R, K] · W + bias, W stored [N, K] (`out-in`, nn.Linear) or [K, N] (`in-out`, Conv1D). With
 * `accumulate` the product lands on `out` (out += x·W + bias, beta = 1): a residual stream takes its branch
 * without a buffer or a pass of its own.
 */
export function linearForward(
  gemm: Gemm,
  out: Float32Array, // [R, N]
  x: Float32Array, // [R, K]
  weight: Float32Array, // [N, K] or [K, N]
  bias: Float32Array | null, // [N]
  shape: { rows: number; inFeatures: number; outFeatures: number },
  layout: "out-in" | "in-out",
  accumulate = false,
): void {
  const { rows, inFeatures: k, outFeatures: n } = shape;
  if (bias && !accumulate) { for (let r = 0; r < rows; r++) out.set(bias, r * n); }
  gemm.sgemm({
    transA: false,
    transB: layout === "out-in",
    m: rows,
    n,
    k,
    a: x,
    lda: k,
    b: weight,
    ldb: layout === "out-in" ? k : n,
    beta: bias || accumulate ? 1 : 0,
    c: out,
    ldc: n,
  });
  if (bias && accumulate) {
    for (let r = 0; r < rows; r++) {
      const o = r * n;
      for (let j = 0; j < n; j++) out[o + j] += bias[j];
    }
  }
}

/** out [R, C] = (x − mean) / √(var + eps) · weight + bias per row (biased variance, two passes). */
export function layerNormForward(
  out: Float32Array, // [R, C]
  x: Float32Array, // [R, C]
  weight: Float32Array, // [C]
  bias: Float32Array, // [C]
  shape: { rows: number; cols: number },
  eps: number,
): void {
  const { rows, cols } = shape;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += x[o + c];
    const mean = sum / cols;
    let sq = 0;
    for (let c = 0; c < cols; c++) sq += (x[o + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / cols + eps);
    for (let c = 0; c < cols; c++) out[o + c] = (x[o + c] - mean) * inv * weight[c] + bias[c];
  }
}

/**
 * out [R, C] = x / √(mean(x²) + eps) · weight per row (Llama's RMSNorm). Qwen3's per-head q/k norm is this with
 * rows = R·heads and cols = hd, since q [R, H·hd] is row-major.
 */
export function rmsNormForward(
  out: Float32Array, // [R, C]
  x: Float32Array, // [R, C]
  weight: Float32Array, // [C]
  shape: { rows: number; cols: number },
  eps: number,
): void {
  const { rows, cols } = shape;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sq = 0;
    for (let c = 0; c < cols; c++) sq += x[o + c] * x[o + c];
    const inv = 1 / Math.sqrt(sq / cols + eps);
    for (let c = 0; c < cols; c++) out[o + c] = x[o + c] * inv * weight[c];
  }
}

/**
 * Rotary position embedding in place on the first `rotaryDim` of every head of x [R, heads·hd]; pair i turns by
 * pos[r] · invFreq[i]. half-split pairs (i, i + rotaryDim/2) (Llama's rotate_half); interleaved pairs (2i, 2i+1)
 * (GPT-J's rotate_every_two). Columns rotaryDim..hd pass through (GPT-J's partial rotary).
 */
export function rotaryForward(
  x: Float32Array, // [R, heads·hd]
  pos: Uint32Array, // [R]
  invFreq: Float64Array, // [rotaryDim / 2]
  shape: { rows: number; heads: number; headDim: number; rotaryDim: number },
  convention: "half-split" | "interleaved",
): void {
  const { rows, heads, headDim, rotaryDim } = shape;
  const half = rotaryDim / 2;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < half; i++) {
      const angle = pos[r] * invFreq[i];
      const cos = Math.cos(angle), sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const base = (r * heads + h) * headDim;
        const a = base + (convention === "half-split" ? i : 2 * i);
        const b = convention === "half-split" ? a + half : a + 1;
        const x1 = x[a], x2 = x[b];
        x[a] = x1 * cos - x2 * sin;
        x[b] = x2 * cos + x1 * sin;
      }
    }
  }
}

/** out [R, D] = table[ids[r]] (+ positions[pos[r] + offset] when a learned position table is given). */
export function embeddingForward(
  out: Float32Array, // [R, D]
  ids: Int32Array, // [R]
  table: Float32Array, // [V, D]
  positions: { table: Float32Array; pos: Uint32Array; offset: number } | null, // table [P, D], pos [R]
  shape: { rows: number; dim: number },
): void {
  const { rows, dim } = shape;
  for (let r = 0; r < rows; r++) {
    out.set(table.subarray(ids[r] * dim, (ids[r] + 1) * dim), r * dim);
    if (positions) {
      const p = (positions.pos[r] + positions.offset) * dim;
      for (let d = 0; d < dim; d++) out[r * dim + d] += positions.table[p + d];
    }
  }
}

/** Copies row r of k and v [R, kvDim] into row slot[r] of the stores kStore, vStore [S, kvDim]. */
export function kvWriteForward(
  kStore: Float32Array, // [S, kvDim]
  vStore: Float32Array, // [S, kvDim]
  k: Float32Array, // [R, kvDim]
  v: Float32Array, // [R, kvDim]
  slot: Uint32Array, // [R]
  shape: { rows: number; kvDim: number },
): void {
  const { rows, kvDim } = shape;
  for (let r = 0; r < rows; r++) {
    kStore.set(k.subarray(r * kvDim, (r + 1) * kvDim), slot[r] * kvDim);
    vStore.set(v.subarray(r * kvDim, (r + 1) * kvDim), slot[r] * kvDim);
  }
}

/**
 * Grouped-query attention: query head h of row r reads key/value head ⌊h / (heads / kvHeads)⌋ at store rows
 * keyStart[r] .. keyStart[r] + keyCount[r] − 1 (causal ∧ not padding), softmax(q·k · scale) · v.
 */
export function attentionForward(
  out: Float32Array, // [R, heads·hd]
  q: Float32Array, // [R, heads·hd]
  kStore: Float32Array, // [S, kvHeads·hd]
  vStore: Float32Array, // [S, kvHeads·hd]
  keyStart: Uint32Array, // [R]
  keyCount: Uint32Array, // [R]
  shape: { rows: number; heads: number; kvHeads: number; headDim: number },
  scale: number,
): void {
  const { rows, heads, kvHeads, headDim: hd } = shape;
  const group = heads / kvHeads;
  const kvDim = kvHeads * hd;
  for (let r = 0; r < rows; r++) {
    const n = keyCount[r];
    const scores = new Float64Array(n);
    for (let h = 0; h < heads; h++) {
      const qo = (r * heads + h) * hd;
      const ko = Math.floor(h / group) * hd;
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const k = (keyStart[r] + j) * kvDim + ko;
        let s = 0;
        for (let i = 0; i < hd; i++) s += q[qo + i] * kStore[k + i];
        scores[j] = s * scale;
        if (scores[j] > max) max = scores[j];
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += scores[j] * vStore[(keyStart[r] + j) * kvDim + ko + i];
        out[qo + i] = acc / sum;
      }
    }
  }
}

/**
 * `attentionForward`'s contract with the products on `gemm`: per run of consecutive rows sharing a keyStart (a
 * packed text, or one decode row) and per query head, scores [m, n] = q_h · k_hᵀ · scale and out_h = softmax ·
 * v_h, n being the most keys any row of the run reads; each row's keys beyond its own keyCount get weight 0.
 */
export function attentionBlasForward(
  gemm: Gemm,
  out: Float32Array, // [R, heads·hd]
  q: Float32Array, // [R, heads·hd]
  kStore: Float32Array, // [S, kvHeads·hd]
  vStore: Float32Array, // [S, kvHeads·hd]
  keyStart: Uint32Array, // [R]
  keyCount: Uint32Array, // [R]
  shape: { rows: number; heads: number; kvHeads: number; headDim: number },
  scale: number,
): void {
  const { rows, heads, kvHeads, headDim: hd } = shape;
  const group = heads / kvHeads;
  const qDim = heads * hd, kvDim = kvHeads * hd;
  let scores = new Float32Array(0);
  for (let r0 = 0; r0 < rows;) {
    let r1 = r0 + 1;
    let n = keyCount[r0];
    while (r1 < rows && keyStart[r1] === keyStart[r0]) n = Math.max(n, keyCount[r1++]);
    const m = r1 - r0;
    if (scores.length < m * n) scores = new Float32Array(m * n);
    const base = keyStart[r0] * kvDim;
    for (let h = 0; h < heads; h++) {
      const kvOffset = base + Math.floor(h / group) * hd;
      gemm.sgemm({
        transA: false,
        transB: true,
        m,
        n,
        k: hd,
        alpha: scale,
        a: q,
        aOffset: r0 * qDim + h * hd,
        lda: qDim,
        b: kStore,
        bOffset: kvOffset,
        ldb: kvDim,
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
        b: vStore,
        bOffset: kvOffset,
        ldb: kvDim,
        c: out,
        cOffset: r0 * qDim + h * hd,
        ldc: qDim,
      });
    }
    r0 = r1;
  }
}

/** GELU's tanh argument is clamped to ±15: tanh is ±1 to 1e-12 there, and no exp can overflow to NaN. */
export function geluTanh(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1 + Math.tanh(Math.min(15, Math.max(-15, u))));
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/**
 * GELU (tanh form) with tanh as a rational function (odd degree 13 over even degree 6, clamped at ±7.905 where
 * tanh is ±1 to float32 precision): within 2.6e-7 of Math.tanh and about 4× faster in V8, which matters as it
 * runs over every element of the [R, I] MLP activation. Below u = −2, 1 + tanh u would lose its digits to
 * cancellation, so that tail uses the exact 1 + tanh u = 2 / (1 + e^(−2u)). `geluTanh` is its spec.
 */
export function geluFast(x: number): number {
  let u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  if (u < -2) {
    if (u < -15) u = -15; // as geluTanh clamps
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

/** x [N] ← act(x) in place (GELU-tanh or ReLU MLPs); GELU through `geluFast`. */
export function activationForward(
  x: Float32Array,
  activation: "gelu-tanh" | "relu" | "silu",
  size: number,
): void {
  if (activation === "gelu-tanh") {
    for (let i = 0; i < size; i++) x[i] = geluFast(x[i]);
  } else if (activation === "relu") {
    for (let i = 0; i < size; i++) x[i] = x[i] > 0 ? x[i] : 0;
  } else {
    for (let i = 0; i < size; i++) x[i] = silu(x[i]);
  }
}

/** gate [N] ← silu(gate) · up (SwiGLU), in place. */
export function swigluForward(gate: Float32Array, up: Float32Array, size: number): void {
  for (let i = 0; i < size; i++) gate[i] = silu(gate[i]) * up[i];
}

/** x [N] += y [N]. */
export function addForward(x: Float32Array, y: Float32Array, size: number): void {
  for (let i = 0; i < size; i++) x[i] += y[i];
}

/** out [B, D] = mean of x's rows start[b] .. start[b] + count[b] − 1. */
export function meanPoolForward(
  out: Float32Array, // [B, D]
  x: Float32Array, // [R, D]
  start: Uint32Array, // [B]
  count: Uint32Array, // [B]
  shape: { seqs: number; dim: number },
): void {
  const { seqs, dim } = shape;
  const acc = new Float64Array(dim);
  for (let b = 0; b < seqs; b++) {
    acc.fill(0);
    for (let t = 0; t < count[b]; t++) {
      const o = (start[b] + t) * dim;
      for (let d = 0; d < dim; d++) acc[d] += x[o + d];
    }
    for (let d = 0; d < dim; d++) out[b * dim + d] = acc[d] / count[b];
  }
}

/** out [R] = log softmax(logits[r])[target[r]]. */
export function logProbForward(
  out: Float32Array, // [R]
  logits: Float32Array, // [R, V]
  target: Int32Array, // [R]
  shape: { rows: number; vocab: number },
): void {
  const { rows, vocab } = shape;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) if (logits[o + v] > max) max = logits[o + v];
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[o + v] - max);
    out[r] = logits[o + target[r]] - max - Math.log(sum);
  }
}
