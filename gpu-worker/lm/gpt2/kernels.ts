/**
 * TypeScript wrappers of GPT-2's WGSL kernels (shaders/gpt2_*.wgsl). `loadGpt2Kernels` builds every pipeline once
 * (cached by the runtime); each `encode*` records one op's dispatches into a `ComputeBatch` with its shape in a
 * uniform, so a whole forward step is recorded and submitted at once. Each has a twin in cpu_ops.ts.
 */
import { type ComputeBatch, type Gpu, KernelError, loadShader, packUniform } from "../../runtime/mod.ts";

export interface Gpt2Kernels {
  gpu: Gpu;
  embed: GPUComputePipeline;
  layerNorm: GPUComputePipeline;
  matmul: GPUComputePipeline;
  matmulGelu: GPUComputePipeline;
  kvWrite: GPUComputePipeline;
  attention: GPUComputePipeline;
  residual: GPUComputePipeline;
  pool: GPUComputePipeline;
  unembed: GPUComputePipeline;
  logProb: GPUComputePipeline;
}

/** A slice of rows [start, start + rows) of the token embedding, small enough for one storage binding. */
export interface WteSlice {
  buffer: GPUBuffer; // [rows, D] f32
  start: number;
  rows: number;
}

/** Longest KV cache and widest head the attention kernel's workgroup arrays hold (gpt2_attention.wgsl). */
export const ATTENTION_MAX_KEYS = 1024;
export const ATTENTION_MAX_HEAD = 256;

export async function loadGpt2Kernels(gpu: Gpu): Promise<Gpt2Kernels> {
  const build = async (name: string, constants?: Record<string, number>) =>
    gpu.pipeline({ kernel: name, code: await loadShader(name), constants });
  return {
    gpu,
    embed: await build("gpt2_embed"),
    layerNorm: await build("gpt2_layernorm"),
    matmul: await build("gpt2_matmul", { GELU: 0 }),
    matmulGelu: await build("gpt2_matmul", { GELU: 1 }),
    kvWrite: await build("gpt2_kv_write"),
    attention: await build("gpt2_attention"),
    residual: await build("gpt2_residual"),
    pool: await build("gpt2_pool"),
    unembed: await build("gpt2_unembed"),
    logProb: await build("gpt2_logprob"),
  };
}

/** Workgroups for a grid-stride kernel of 256 threads over `n` elements. */
function strideGroups(n: number): number {
  return Math.max(1, Math.min(Math.ceil(n / 256), 65535));
}

/** out [R, D] = wte[ids[r]] + wpe[pos[r]], one dispatch per embedding slice. */
export function encodeEmbedding(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  out: GPUBuffer, // [R, D]
  ids: GPUBuffer, // [R] i32
  pos: GPUBuffer, // [R] u32
  wte: WteSlice[],
  wpe: GPUBuffer, // [P, D]
  shape: { rows: number; dim: number },
): void {
  for (const slice of wte) {
    const uniform = k.gpu.uniform(
      packUniform([["u32", shape.rows], ["u32", shape.dim], ["u32", slice.start], ["u32", slice.rows]]),
    );
    batch.dispatch("gpt2_embed", k.embed, [uniform, ids, pos, slice.buffer, wpe, out], [
      strideGroups(shape.rows * shape.dim),
    ], { ...shape, vocabStart: slice.start });
  }
}

/** out [R, C] = LayerNorm(x [R, C]) · gamma + beta. */
export function encodeLayerNorm(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  out: GPUBuffer, // [R, C]
  x: GPUBuffer, // [R, C]
  gamma: GPUBuffer, // [C]
  beta: GPUBuffer, // [C]
  shape: { rows: number; cols: number },
  eps: number,
): void {
  const uniform = k.gpu.uniform(packUniform([["u32", shape.rows], ["u32", shape.cols], ["f32", eps]]));
  batch.dispatch("gpt2_layernorm", k.layerNorm, [uniform, x, gamma, beta, out], [shape.rows], shape);
}

/** out [M, N] = x [M, K] · w [K, N] + bias [N], then GELU (tanh form) when `gelu`. */
export function encodeMatmul(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  out: GPUBuffer, // [M, N]
  x: GPUBuffer, // [M, K]
  w: GPUBuffer, // [K, N]
  bias: GPUBuffer, // [N]
  shape: { m: number; k: number; n: number },
  gelu: boolean,
): void {
  const uniform = k.gpu.uniform(packUniform([["u32", shape.m], ["u32", shape.k], ["u32", shape.n]]));
  batch.dispatch(
    gelu ? "gpt2_matmul(gelu)" : "gpt2_matmul",
    gelu ? k.matmulGelu : k.matmul,
    [uniform, x, w, bias, out],
    [Math.ceil(shape.n / 4 / 64), Math.ceil(shape.m / 4)],
    shape,
  );
}

/** kCache/vCache [S, C, D] at (seq[r], pos[r]) ← columns D..2D / 2D..3D of qkv [R, 3D]. */
export function encodeKvWrite(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  kCache: GPUBuffer, // [S, C, D]
  vCache: GPUBuffer, // [S, C, D]
  qkv: GPUBuffer, // [R, 3D]
  seq: GPUBuffer, // [R] u32
  pos: GPUBuffer, // [R] u32
  shape: { rows: number; dim: number; capacity: number },
): void {
  const uniform = k.gpu.uniform(
    packUniform([["u32", shape.rows], ["u32", shape.dim], ["u32", shape.capacity]]),
  );
  batch.dispatch("gpt2_kv_write", k.kvWrite, [uniform, qkv, seq, pos, kCache, vCache], [
    strideGroups(shape.rows * shape.dim),
  ], shape);
}

/** out [R, D]: causal multi-head attention of each row over keys 0..keyCount[r]-1 of its sequence's cache. */
export function encodeAttention(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  out: GPUBuffer, // [R, D]
  qkv: GPUBuffer, // [R, 3D]
  kCache: GPUBuffer, // [S, C, D]
  vCache: GPUBuffer, // [S, C, D]
  seq: GPUBuffer, // [R] u32
  keyCount: GPUBuffer, // [R] u32
  shape: { rows: number; dim: number; heads: number; capacity: number },
): void {
  if (shape.capacity > ATTENTION_MAX_KEYS) {
    throw new KernelError(
      "gpt2_attention",
      `Cannot attend as the KV cache capacity must be ≤ ${ATTENTION_MAX_KEYS}: current value is ${shape.capacity}`,
      shape,
    );
  }
  if (shape.dim / shape.heads > ATTENTION_MAX_HEAD || shape.dim % shape.heads !== 0) {
    throw new KernelError(
      "gpt2_attention",
      `Cannot attend as the head size D / heads must be an integer ≤ ${ATTENTION_MAX_HEAD}: current value is ${
        shape.dim / shape.heads
      }`,
      shape,
    );
  }
  const uniform = k.gpu.uniform(
    packUniform([["u32", shape.rows], ["u32", shape.dim], ["u32", shape.heads], ["u32", shape.capacity]]),
  );
  batch.dispatch("gpt2_attention", k.attention, [uniform, qkv, kCache, vCache, seq, keyCount, out], [
    shape.rows,
    shape.heads,
  ], shape);
}

/** x [n] += y [n]. */
export function encodeResidual(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  x: GPUBuffer, // [n]
  y: GPUBuffer, // [n]
  size: number,
): void {
  const uniform = k.gpu.uniform(packUniform([["u32", size]]));
  batch.dispatch("gpt2_residual", k.residual, [uniform, x, y], [strideGroups(size)], { size });
}

/** out[layer] [B, D] = masked mean of x [B·T, D] over each sequence's first lengths[b] rows. */
export function encodeMeanPool(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  out: GPUBuffer, // [L, B, D]
  x: GPUBuffer, // [B·T, D]
  lengths: GPUBuffer, // [B] u32
  shape: { seqs: number; tokens: number; dim: number; layer: number },
): void {
  const uniform = k.gpu.uniform(
    packUniform([["u32", shape.seqs], ["u32", shape.tokens], ["u32", shape.dim], ["u32", shape.layer]]),
  );
  batch.dispatch(
    "gpt2_pool",
    k.pool,
    [uniform, x, lengths, out],
    [strideGroups(shape.seqs * shape.dim)],
    shape,
  );
}

/** logits [N, V] = x[rowIndex[i]] · wteᵀ, one dispatch per embedding slice. */
export function encodeUnembed(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  logits: GPUBuffer, // [N, V]
  x: GPUBuffer, // [R, D]
  rowIndex: GPUBuffer, // [N] u32
  wte: WteSlice[],
  shape: { rows: number; dim: number; vocab: number }, // rows = N
): void {
  for (const slice of wte) {
    const uniform = k.gpu.uniform(packUniform([
      ["u32", shape.rows],
      ["u32", shape.dim],
      ["u32", shape.vocab],
      ["u32", slice.start],
      ["u32", slice.rows],
    ]));
    batch.dispatch("gpt2_unembed", k.unembed, [uniform, x, rowIndex, slice.buffer, logits], [
      Math.ceil(slice.rows / 4 / 64),
      Math.ceil(shape.rows / 4),
    ], { ...shape, vocabStart: slice.start });
  }
}

/** out [N] = log softmax(logits [N, V])[targets]. */
export function encodeLogProb(
  k: Gpt2Kernels,
  batch: ComputeBatch,
  out: GPUBuffer, // [N]
  logits: GPUBuffer, // [N, V]
  targets: GPUBuffer, // [N] i32
  shape: { rows: number; vocab: number },
): void {
  const uniform = k.gpu.uniform(packUniform([["u32", shape.rows], ["u32", shape.vocab]]));
  batch.dispatch("gpt2_logprob", k.logProb, [uniform, logits, targets, out], [shape.rows], shape);
}
