/** scale_add: z [L] = α·x [L] + β·y [L] (shaders/scale_add.wgsl), e.g. T = (X⁺ − X⁻) / 2. */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

export interface ScaleAddShape {
  length: number;
  alpha: number;
  beta: number;
}

export function scaleAddCpu(x: Float32Array, y: Float32Array, shape: ScaleAddShape): Float32Array {
  checkDims("scale_add", { length: shape.length });
  checkLength("scale_add", "x", x, shape.length);
  checkLength("scale_add", "y", y, shape.length);
  const z = new Float32Array(shape.length);
  for (let i = 0; i < shape.length; i++) z[i] = shape.alpha * x[i] + shape.beta * y[i];
  return z;
}

export async function encodeScaleAdd(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; y: GPUBuffer; z: GPUBuffer },
  shape: ScaleAddShape,
): Promise<void> {
  checkDims("scale_add", { length: shape.length });
  const pipeline = await gpu.pipeline({ kernel: "scale_add", code: await loadShader("scale_add") });
  const uniform = gpu.uniform(
    packUniform([["u32", shape.length], ["f32", shape.alpha], ["f32", shape.beta]]),
  );
  const grid = spreadGrid(Math.ceil(shape.length / 256), gpu.adapter.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch("scale_add", pipeline, [uniform, buffers.x, buffers.y, buffers.z], grid, {
    length: shape.length,
  });
}
