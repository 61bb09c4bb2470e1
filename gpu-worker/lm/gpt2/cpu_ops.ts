/**
 * GPT-2's operations in plain TypeScript: the spec and test oracle of the WGSL kernels (shaders/gpt2_*.wgsl).
 * Each opens with the shapes of its arguments; loops are naive on purpose and accumulate in float64 (JS numbers),
 * storing float32. The CPU forward (cpu_forward.ts) composes them in the order the GPU forward runs the kernels.
 */

/** GELU's tanh argument is clamped to ±GELU_CLAMP: tanh is ±1 to 1e-12 there, and no exp can overflow to NaN. */
export const GELU_CLAMP = 15;

export function geluTanh(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1 + Math.tanh(Math.min(GELU_CLAMP, Math.max(-GELU_CLAMP, u))));
}

/** out [R, D] = wte[ids[r]] + wpe[pos[r]]. */
export function embeddingForward(
  out: Float32Array, // [R, D]
  ids: Int32Array, // [R]
  pos: Uint32Array, // [R]
  wte: Float32Array, // [V, D]
  wpe: Float32Array, // [P, D]
  shape: { rows: number; dim: number },
): void {
  const { rows, dim } = shape;
  for (let r = 0; r < rows; r++) {
    const t = ids[r] * dim;
    const p = pos[r] * dim;
    for (let d = 0; d < dim; d++) out[r * dim + d] = wte[t + d] + wpe[p + d];
  }
}

/** out [R, C] = (x − mean) / sqrt(var + eps) · gamma + beta per row (biased variance, two passes). */
export function layerNormForward(
  out: Float32Array, // [R, C]
  x: Float32Array, // [R, C]
  gamma: Float32Array, // [C]
  beta: Float32Array, // [C]
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
    for (let c = 0; c < cols; c++) out[o + c] = (x[o + c] - mean) * inv * gamma[c] + beta[c];
  }
}

/** out [M, N] = x [M, K] · w [K, N] + bias [N], then GELU (tanh form) when `gelu`. */
export function matmulForward(
  out: Float32Array, // [M, N]
  x: Float32Array, // [M, K]
  w: Float32Array, // [K, N]
  bias: Float32Array, // [N]
  shape: { m: number; k: number; n: number },
  gelu: boolean,
): void {
  const { m, k, n } = shape;
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.set(bias);
    for (let p = 0; p < k; p++) {
      const a = x[i * k + p];
      const row = p * n;
      for (let j = 0; j < n; j++) acc[j] += a * w[row + j];
    }
    for (let j = 0; j < n; j++) out[i * n + j] = gelu ? geluTanh(acc[j]) : acc[j];
  }
}

/** Writes each row's key and value (columns D..2D and 2D..3D of qkv) into its sequence's cache slot. */
export function kvWriteForward(
  kCache: Float32Array, // [S, C, D] S sequences of capacity C
  vCache: Float32Array, // [S, C, D]
  qkv: Float32Array, // [R, 3D]
  seq: Uint32Array, // [R]
  pos: Uint32Array, // [R]
  shape: { rows: number; dim: number; capacity: number },
): void {
  const { rows, dim, capacity } = shape;
  for (let r = 0; r < rows; r++) {
    const dst = (seq[r] * capacity + pos[r]) * dim;
    for (let d = 0; d < dim; d++) {
      kCache[dst + d] = qkv[r * 3 * dim + dim + d];
      vCache[dst + d] = qkv[r * 3 * dim + 2 * dim + d];
    }
  }
}

/**
 * Causal multi-head attention with a padding mask: row r's head h attends to keys 0..keyCount[r]-1 of sequence
 * seq[r], softmax(q·k / sqrt(D/H)) · v.
 */
export function attentionForward(
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
  for (let r = 0; r < rows; r++) {
    const n = keyCount[r];
    const base = seq[r] * capacity * dim;
    const scores = new Float64Array(n);
    for (let h = 0; h < heads; h++) {
      const q = r * 3 * dim + h * hd;
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const k = base + j * dim + h * hd;
        let s = 0;
        for (let i = 0; i < hd; i++) s += qkv[q + i] * kCache[k + i];
        scores[j] = s * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += scores[j] * vCache[base + j * dim + h * hd + i];
        out[r * dim + h * hd + i] = acc / sum;
      }
    }
  }
}

/** x [N] += y [N]. */
export function residualForward(x: Float32Array, y: Float32Array, size: number): void {
  for (let i = 0; i < size; i++) x[i] += y[i];
}

/** out [B, D] = mean of x's rows b·T + t over the real tokens t < lengths[b] (padding never counts). */
export function meanPoolForward(
  out: Float32Array, // [B, D]
  x: Float32Array, // [B·T, D]
  lengths: Uint32Array, // [B]
  shape: { seqs: number; tokens: number; dim: number },
): void {
  const { seqs, tokens, dim } = shape;
  for (let b = 0; b < seqs; b++) {
    for (let d = 0; d < dim; d++) {
      let sum = 0;
      for (let t = 0; t < lengths[b]; t++) sum += x[(b * tokens + t) * dim + d];
      out[b * dim + d] = sum / lengths[b];
    }
  }
}

/** Tied unembedding of selected rows: out [N, V] = x[rowIndex[i]] · wteᵀ. */
export function unembedForward(
  out: Float32Array, // [N, V]
  x: Float32Array, // [R, D]
  rowIndex: Uint32Array, // [N] rows of x to unembed
  wte: Float32Array, // [V, D]
  shape: { rows: number; dim: number; vocab: number }, // rows = N
): void {
  const { rows, dim, vocab } = shape;
  for (let i = 0; i < rows; i++) {
    const x0 = rowIndex[i] * dim;
    for (let v = 0; v < vocab; v++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += x[x0 + d] * wte[v * dim + d];
      out[i * vocab + v] = s;
    }
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
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[o + v]);
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[o + v] - max);
    out[r] = logits[o + target[r]] - max - Math.log(sum);
  }
}
