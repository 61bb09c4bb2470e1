/**
 * gram: G [KA, KB] = Aᵀ · B for thin A [R, KA], B [R, KB] (shaders/gram.wgsl): Grams for the convergence test
 * and Rayleigh-Ritz.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface GramShape {
  r: number;
  ka: number;
  kb: number;
}

/** a [R, KA], b [R, KB] → g [KA, KB]. */
export function gramCpu(a: Float32Array, b: Float32Array, shape: GramShape): Float32Array {
  const { r, ka, kb } = shape;
  checkDims("gram", { r, ka, kb });
  checkLength("gram", "a", a, r * ka);
  checkLength("gram", "b", b, r * kb);
  const g = new Float32Array(ka * kb);
  for (let i = 0; i < ka; i++) {
    for (let j = 0; j < kb; j++) {
      let sum = 0;
      for (let p = 0; p < r; p++) sum += a[p * ka + i] * b[p * kb + j];
      g[i * kb + j] = sum;
    }
  }
  return g;
}

/** Records g = aᵀ · b. */
export async function encodeGram(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { a: GPUBuffer; b: GPUBuffer; g: GPUBuffer },
  shape: GramShape,
): Promise<void> {
  const { r, ka, kb } = shape;
  checkDims("gram", { r, ka, kb });
  const pipeline = await gpu.pipeline({ kernel: "gram", code: await loadShader("gram") });
  const uniform = gpu.uniform(packUniform([["u32", r], ["u32", ka], ["u32", kb]]));
  batch.dispatch("gram", pipeline, [uniform, buffers.a, buffers.b, buffers.g], [ka, Math.ceil(kb / 4)], {
    r,
    ka,
    kb,
  });
}
