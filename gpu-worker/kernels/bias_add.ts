/** bias_add: x [R, C] += bias [C] per row (shaders/bias_add.wgsl): the biases of GPT-2, OPT, Qwen2's q/k/v. */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface BiasAddShape {
  rows: number;
  cols: number;
}

/** x [R, C], bias [C] → x + bias (a copy). */
export function biasAddCpu(x: Float32Array, bias: Float32Array, shape: BiasAddShape): Float32Array {
  const { rows, cols } = shape;
  checkDims("bias_add", { rows, cols });
  checkLength("bias_add", "x", x, rows * cols);
  checkLength("bias_add", "bias", bias, cols);
  return x.map((v, i) => v + bias[i % cols]);
}

export async function encodeBiasAdd(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; bias: GPUBuffer },
  shape: BiasAddShape,
): Promise<void> {
  const { rows, cols } = shape;
  checkDims("bias_add", { rows, cols });
  const pipeline = await gpu.pipeline({ kernel: "bias_add", code: await loadShader("bias_add") });
  const uniform = gpu.uniform(packUniform([["u32", rows], ["u32", cols]]));
  const groups = Math.min(Math.ceil((rows * cols) / 256), 65535);
  batch.dispatch("bias_add", pipeline, [uniform, buffers.x, buffers.bias], [groups], { ...shape });
}
