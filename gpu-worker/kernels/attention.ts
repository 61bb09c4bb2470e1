/**
 * attention: causal grouped-query attention over a KV cache with an online softmax over tiles of keys
 * (shaders/attention.wgsl): no cap on the number of keys. Prefill passes the projected keys/values of B texts
 * of T tokens as a cache of B slots with capacity T; decode passes the KV cache filled by kv_write.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

export interface AttentionShape {
  rows: number;
  heads: number;
  /** Divides heads (grouped-query attention); = heads for multi-head attention. */
  kvHeads: number;
  /** ≤ ATTENTION_MAX_HEAD. */
  headDim: number;
  /** Key slots per sequence in the cache. */
  capacity: number;
  /** Score scale, 1/sqrt(headDim) for every family here. */
  scale: number;
}

export const ATTENTION_MAX_HEAD = 256;

/**
 * q [R, H·hd], kCache/vCache [S, C, KVH·hd], seq [R], keyCount [R] → out [R, H·hd]. Plain softmax in float64
 * (the spec the tiled online softmax must reproduce).
 */
export function attentionCpu(
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  seq: Uint32Array,
  keyCount: Uint32Array,
  shape: AttentionShape,
): Float32Array {
  const { rows, heads, kvHeads, headDim: hd, capacity } = shape;
  checkAttention(shape);
  checkLength("attention", "q", q, rows * heads * hd);
  checkLength("attention", "vCache", vCache, kCache.length);
  if (kCache.length % (capacity * kvHeads * hd) !== 0) {
    throw new RangeError(
      `Cannot attend as kCache must hold whole slots of capacity·kvHeads·headDim = ${
        capacity * kvHeads * hd
      } values: has ${kCache.length}`,
    );
  }
  const slots = kCache.length / (capacity * kvHeads * hd);
  const kvWidth = kvHeads * hd;
  const out = new Float32Array(rows * heads * hd);
  const scores = new Float64Array(capacity);
  for (let r = 0; r < rows; r++) {
    const n = keyCount[r];
    if (!(n >= 1 && n <= capacity) || seq[r] >= slots) {
      throw new RangeError(
        `Cannot attend as each row needs 1 ≤ keyCount ≤ ${capacity} and seq < ${slots}: row ${r} has keyCount ${n}, seq ${
          seq[r]
        }`,
      );
    }
    for (let h = 0; h < heads; h++) {
      const base = seq[r] * capacity * kvWidth + Math.floor(h / (heads / kvHeads)) * hd;
      const qo = (r * heads + h) * hd;
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[qo + i] * kCache[base + j * kvWidth + i];
        scores[j] = dot * shape.scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) sum += scores[j] = Math.exp(scores[j] - max);
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += scores[j] * vCache[base + j * kvWidth + i];
        out[qo + i] = acc / sum;
      }
    }
  }
  return out;
}

/** Records out = attention(q, kCache, vCache); keyCount must be within the capacity (the twin checks it). */
export async function encodeAttention(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: {
    q: GPUBuffer;
    kCache: GPUBuffer;
    vCache: GPUBuffer;
    seq: GPUBuffer;
    keyCount: GPUBuffer;
    out: GPUBuffer;
  },
  shape: AttentionShape,
): Promise<void> {
  const { rows, heads, kvHeads, headDim, capacity, scale } = shape;
  checkAttention(shape);
  const pipeline = await gpu.pipeline({ kernel: "attention", code: await loadShader("attention") });
  const uniform = gpu.uniform(packUniform([
    ["u32", rows],
    ["u32", heads],
    ["u32", kvHeads],
    ["u32", headDim],
    ["u32", capacity],
    ["f32", scale],
  ]));
  const b = buffers;
  const grid = spreadGrid(rows * heads, gpu.adapter.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch(
    "attention",
    pipeline,
    [uniform, b.q, b.kCache, b.vCache, b.seq, b.keyCount, b.out],
    grid,
    { ...shape },
  );
}

function checkAttention(shape: AttentionShape): void {
  const { rows, heads, kvHeads, headDim, capacity } = shape;
  checkDims("attention", { rows, heads, kvHeads, headDim, capacity });
  if (heads % kvHeads !== 0) {
    throw new RangeError(
      `Cannot attend as 'kvHeads' must divide heads (${heads}): current value is ${kvHeads}`,
    );
  }
  if (headDim > ATTENTION_MAX_HEAD) {
    throw new RangeError(
      `Cannot attend as 'headDim' must be ≤ ${ATTENTION_MAX_HEAD}: current value is ${headDim}`,
    );
  }
}
