/**
 * cols_dot: C = Aᵀ · B for A [M, N] and a thin B [M, KB] (shaders/cols_dot.wgsl): C [N, KB], or [KB, N] when
 * transC. Y = Tᵀ Z in the subspace iteration; removed = Vᵀ W [k, 4D] for W [D, 4D].
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface ColsDotShape {
  m: number;
  n: number;
  kb: number;
  /** Store C as [KB, N] instead of [N, KB]. */
  transC?: boolean;
}

/** a [M, N], b [M, KB] → c [N, KB] (or [KB, N]). */
export function colsDotCpu(a: Float32Array, b: Float32Array, shape: ColsDotShape): Float32Array {
  const { m, n, kb, transC = false } = shape;
  checkDims("cols_dot", { m, n, kb });
  checkLength("cols_dot", "a", a, m * n);
  checkLength("cols_dot", "b", b, m * kb);
  const c = new Float32Array(n * kb);
  for (let col = 0; col < n; col++) {
    for (let j = 0; j < kb; j++) {
      let sum = 0;
      for (let r = 0; r < m; r++) sum += a[r * n + col] * b[r * kb + j];
      c[transC ? j * n + col : col * kb + j] = sum;
    }
  }
  return c;
}

/** Records c = aᵀ · b. */
export async function encodeColsDot(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { a: GPUBuffer; b: GPUBuffer; c: GPUBuffer },
  shape: ColsDotShape,
): Promise<void> {
  const { m, n, kb, transC = false } = shape;
  checkDims("cols_dot", { m, n, kb });
  const pipeline = await gpu.pipeline({ kernel: "cols_dot", code: await loadShader("cols_dot") });
  const uniform = gpu.uniform(packUniform([["u32", m], ["u32", n], ["u32", kb], ["u32", transC ? 1 : 0]]));
  batch.dispatch("cols_dot", pipeline, [uniform, buffers.a, buffers.b, buffers.c], [
    Math.ceil(n / 64),
    Math.ceil(kb / 4),
  ], { m, n, kb, transC });
}
