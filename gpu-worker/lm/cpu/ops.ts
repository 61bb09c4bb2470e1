/**
 * The LM engine's operations in plain TypeScript, one small function each, every argument with its shape. Rows
 * are token rows (one token of one text); the attention's keys of row r are rows keyStart[r] .. keyStart[r] +
 * keyCount[r] − 1 of a key/value store, which is how both a packed batch (every text's rows contiguous, no padding)
 * and a KV cache ([S, C] slots) express the causal and padding mask. Dense products go through `Gemm`.
 */
import type { Gemm } from "../../blas/gemm.ts";

/** out [R, N] = x [R, K] · W + bias, W stored [N, K] (`out-in`, nn.Linear) or [K, N] (`in-out`, Conv1D). */
export function linearForward(
  gemm: Gemm,
  out: Float32Array, // [R, N]
  x: Float32Array, // [R, K]
  weight: Float32Array, // [N, K] or [K, N]
  bias: Float32Array | null, // [N]
  shape: { rows: number; inFeatures: number; outFeatures: number },
  layout: "out-in" | "in-out",
): void {
  const { rows, inFeatures: k, outFeatures: n } = shape;
  if (bias) { for (let r = 0; r < rows; r++) out.set(bias, r * n); }
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
    beta: bias ? 1 : 0,
    c: out,
    ldc: n,
  });
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

/** GELU's tanh argument is clamped to ±15: tanh is ±1 to 1e-12 there, and no exp can overflow to NaN. */
export function geluTanh(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1 + Math.tanh(Math.min(15, Math.max(-15, u))));
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** x [N] ← act(x) in place (GELU-tanh or ReLU MLPs). */
export function activationForward(
  x: Float32Array,
  activation: "gelu-tanh" | "relu" | "silu",
  size: number,
): void {
  const f = activation === "gelu-tanh"
    ? geluTanh
    : activation === "relu"
    ? (v: number) => Math.max(0, v)
    : silu;
  for (let i = 0; i < size; i++) x[i] = f(x[i]);
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
