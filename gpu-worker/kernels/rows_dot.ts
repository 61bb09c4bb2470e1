/**
 * rows_dot: C [M, KB] = A [M, K] · B [K, KB] for a thin B (shaders/rows_dot.wgsl): Z = T Q, removed = W V.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

export interface RowsDotShape {
  m: number;
  k: number;
  kb: number;
}

/** a [M, K], b [K, KB] → c [M, KB]. */
export function rowsDotCpu(a: Float32Array, b: Float32Array, shape: RowsDotShape): Float32Array {
  const { m, k, kb } = shape;
  checkDims("rows_dot", { m, k, kb });
  checkLength("rows_dot", "a", a, m * k);
  checkLength("rows_dot", "b", b, k * kb);
  const c = new Float32Array(m * kb);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < kb; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * kb + j];
      c[i * kb + j] = sum;
    }
  }
  return c;
}

/** Records c [M, KB] = a [M, K] · b [K, KB]. */
export async function encodeRowsDot(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { a: GPUBuffer; b: GPUBuffer; c: GPUBuffer },
  shape: RowsDotShape,
): Promise<void> {
  const { m, k, kb } = shape;
  checkDims("rows_dot", { m, k, kb });
  const pipeline = await gpu.pipeline({ kernel: "rows_dot", code: await loadShader("rows_dot") });
  const uniform = gpu.uniform(
    packUniform([["u32", m], ["u32", k], ["u32", kb], ["u32", k % 4 === 0 ? 1 : 0]]),
  );
  const [x, y] = spreadGrid(m, gpu.adapter.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch(
    "rows_dot",
    pipeline,
    [uniform, buffers.a, buffers.b, buffers.c],
    [x, y, Math.ceil(kb / 4)],
    {
      m,
      k,
      kb,
    },
  );
}
