/**
 * layer_norm: out [R, C] = (x − mean) / sqrt(var + eps) · gamma + beta per row (shaders/layer_norm.wgsl). The norm
 * of GPT-2, GPT-J and OPT.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

export interface LayerNormShape {
  rows: number;
  cols: number;
  eps: number;
}

/** x [R, C], gamma [C], beta [C] → out [R, C] (biased variance, two passes). */
export function layerNormCpu(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  shape: LayerNormShape,
): Float32Array {
  const { rows, cols, eps } = shape;
  checkDims("layer_norm", { rows, cols });
  checkLength("layer_norm", "x", x, rows * cols);
  checkLength("layer_norm", "gamma", gamma, cols);
  checkLength("layer_norm", "beta", beta, cols);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += row[c];
    mean /= cols;
    let variance = 0;
    for (let c = 0; c < cols; c++) variance += (row[c] - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / cols + eps);
    for (let c = 0; c < cols; c++) out[r * cols + c] = (row[c] - mean) * inv * gamma[c] + beta[c];
  }
  return out;
}

/** Records out = LayerNorm(x) · gamma + beta; `out` must not be `x`. */
export async function encodeLayerNorm(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; gamma: GPUBuffer; beta: GPUBuffer; out: GPUBuffer },
  shape: LayerNormShape,
): Promise<void> {
  const { rows, cols, eps } = shape;
  checkDims("layer_norm", { rows, cols });
  const pipeline = await gpu.pipeline({ kernel: "layer_norm", code: await loadShader("layer_norm") });
  const uniform = gpu.uniform(packUniform([["u32", rows], ["u32", cols], ["f32", eps]]));
  const grid = spreadGrid(rows, gpu.adapter.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch(
    "layer_norm",
    pipeline,
    [uniform, buffers.x, buffers.gamma, buffers.beta, buffers.out],
    grid,
    { ...shape },
  );
}
