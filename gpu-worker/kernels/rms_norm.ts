/**
 * rms_norm: out [R, C] = x / rms(x) · (weight + weightOffset) per row (shaders/rms_norm.wgsl). Llama, Mistral and
 * Qwen's norms; Qwen3's per-head q/k norm is the same kernel over [R·heads, headSize].
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

export interface RmsNormShape {
  rows: number;
  cols: number;
  eps: number;
  /** Added to the stored weight (0 for Llama/Qwen; 1 for models that store weight − 1). Default 0. */
  weightOffset?: number;
}

/** x [R, C], weight [C] → out [R, C]. */
export function rmsNormCpu(x: Float32Array, weight: Float32Array, shape: RmsNormShape): Float32Array {
  const { rows, cols, eps, weightOffset = 0 } = shape;
  checkDims("rms_norm", { rows, cols });
  checkLength("rms_norm", "x", x, rows * cols);
  checkLength("rms_norm", "weight", weight, cols);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < cols; c++) sq += x[r * cols + c] ** 2;
    const inv = 1 / Math.sqrt(sq / cols + eps);
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] * inv * (weight[c] + weightOffset);
  }
  return out;
}

/** Records out = RMSNorm(x) · (weight + weightOffset); `out` must not be `x`. */
export async function encodeRmsNorm(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; weight: GPUBuffer; out: GPUBuffer },
  shape: RmsNormShape,
): Promise<void> {
  const { rows, cols, eps, weightOffset = 0 } = shape;
  checkDims("rms_norm", { rows, cols });
  const pipeline = await gpu.pipeline({ kernel: "rms_norm", code: await loadShader("rms_norm") });
  const uniform = gpu.uniform(
    packUniform([["u32", rows], ["u32", cols], ["f32", eps], ["f32", weightOffset]]),
  );
  const grid = spreadGrid(rows, gpu.adapter.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch("rms_norm", pipeline, [uniform, buffers.x, buffers.weight, buffers.out], grid, { ...shape });
}
