/**
 * activation: GELU-tanh, ReLU or SwiGLU (silu(gate)·up) in place (shaders/activation.wgsl, one entry point each).
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export type Activation = "gelu_tanh" | "relu" | "swiglu";

export interface ActivationShape {
  length: number;
  kind: Activation;
}

/** x [length] (the gate for swiglu), up [length] (swiglu only) → activated copy of x. */
export function activationCpu(
  x: Float32Array,
  up: Float32Array | null,
  shape: ActivationShape,
): Float32Array {
  const { length, kind } = shape;
  checkDims("activation", { length });
  checkLength("activation", "x", x, length);
  if (kind === "swiglu") {
    if (!up) throw new RangeError("Cannot apply swiglu as 'up' must be given: current value is null");
    checkLength("activation", "up", up, length);
  }
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const v = x[i];
    if (kind === "gelu_tanh") {
      out[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    } else if (kind === "relu") out[i] = Math.max(v, 0);
    else out[i] = (v / (1 + Math.exp(-v))) * up![i];
  }
  return out;
}

/** Records x ← act(x) (swiglu: x ← silu(x)·up). */
export async function encodeActivation(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; up?: GPUBuffer },
  shape: ActivationShape,
): Promise<void> {
  const { length, kind } = shape;
  checkDims("activation", { length });
  if (kind === "swiglu" && !buffers.up) {
    throw new RangeError("Cannot encode swiglu as 'up' must be given: current value is undefined");
  }
  const pipeline = await gpu.pipeline({
    kernel: "activation",
    code: await loadShader("activation"),
    entryPoint: kind,
  });
  const uniform = gpu.uniform(packUniform([["u32", length]]));
  const bound = kind === "swiglu" ? [uniform, buffers.x, buffers.up!] : [uniform, buffers.x];
  batch.dispatch(`activation(${kind})`, pipeline, bound, [Math.min(Math.ceil(length / 256), 65535)], {
    ...shape,
  });
}
