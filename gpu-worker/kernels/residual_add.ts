/** residual_add: x [n] += y [n] (shaders/residual_add.wgsl): a block's branch into the residual stream. */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface ResidualAddShape {
  length: number;
}

/** x + y (a copy). */
export function residualAddCpu(x: Float32Array, y: Float32Array, shape: ResidualAddShape): Float32Array {
  checkDims("residual_add", { length: shape.length });
  checkLength("residual_add", "x", x, shape.length);
  checkLength("residual_add", "y", y, shape.length);
  return x.map((v, i) => v + y[i]);
}

export async function encodeResidualAdd(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; y: GPUBuffer },
  shape: ResidualAddShape,
): Promise<void> {
  const { length } = shape;
  checkDims("residual_add", { length });
  const pipeline = await gpu.pipeline({ kernel: "residual_add", code: await loadShader("residual_add") });
  const uniform = gpu.uniform(packUniform([["u32", length]]));
  const groups = Math.min(Math.ceil(length / 256), 65535);
  batch.dispatch("residual_add", pipeline, [uniform, buffers.x, buffers.y], [groups], { ...shape });
}
