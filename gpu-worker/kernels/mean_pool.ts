/**
 * mean_pool: out [outRow .. outRow + B, D] = masked mean of x [B·T, D] over each text's first lengths[b] rows
 * (shaders/mean_pool.wgsl): the pooled embedding of one block, the input of ProFS.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface MeanPoolShape {
  seqs: number;
  tokens: number;
  dim: number;
  /** First output row written (l·N + first text in an [L, N, D] result). Default 0. */
  outRow?: number;
}

/** x [B·T, D], lengths [B] → [B, D] (float64 sums). */
export function meanPoolCpu(x: Float32Array, lengths: Uint32Array, shape: MeanPoolShape): Float32Array {
  const { seqs, tokens, dim } = shape;
  checkDims("mean_pool", { seqs, tokens, dim });
  checkLength("mean_pool", "x", x, seqs * tokens * dim);
  checkLength("mean_pool", "lengths", lengths, seqs);
  const out = new Float32Array(seqs * dim);
  for (let b = 0; b < seqs; b++) {
    const n = lengths[b];
    if (!(n >= 1 && n <= tokens)) {
      throw new RangeError(`Cannot pool as each length must be in [1, ${tokens}]: text ${b} has ${n}`);
    }
    for (let d = 0; d < dim; d++) {
      let sum = 0;
      for (let t = 0; t < n; t++) sum += x[(b * tokens + t) * dim + d];
      out[b * dim + d] = sum / n;
    }
  }
  return out;
}

export async function encodeMeanPool(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; lengths: GPUBuffer; out: GPUBuffer },
  shape: MeanPoolShape,
): Promise<void> {
  const { seqs, tokens, dim, outRow = 0 } = shape;
  checkDims("mean_pool", { seqs, tokens, dim });
  const pipeline = await gpu.pipeline({ kernel: "mean_pool", code: await loadShader("mean_pool") });
  const uniform = gpu.uniform(packUniform([["u32", seqs], ["u32", tokens], ["u32", dim], ["u32", outRow]]));
  const groups = Math.min(Math.ceil((seqs * dim) / 256), 65535);
  batch.dispatch("mean_pool", pipeline, [uniform, buffers.x, buffers.lengths, buffers.out], [groups], {
    ...shape,
  });
}
