/** row_sum_squares: s [M] = Σ_j X[i, j]² for X [M, N] (shaders/row_sum_squares.wgsl). */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

export interface RowShape {
  m: number;
  n: number;
}

export function rowSumSquaresCpu(x: Float32Array, shape: RowShape): Float32Array {
  checkDims("row_sum_squares", { m: shape.m, n: shape.n });
  checkLength("row_sum_squares", "x", x, shape.m * shape.n);
  const s = new Float32Array(shape.m);
  for (let i = 0; i < shape.m; i++) {
    let sum = 0;
    for (let j = 0; j < shape.n; j++) sum += x[i * shape.n + j] ** 2;
    s[i] = sum;
  }
  return s;
}

export async function encodeRowSumSquares(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; s: GPUBuffer },
  shape: RowShape,
): Promise<void> {
  checkDims("row_sum_squares", { m: shape.m, n: shape.n });
  const pipeline = await gpu.pipeline({
    kernel: "row_sum_squares",
    code: await loadShader("row_sum_squares"),
  });
  const uniform = gpu.uniform(packUniform([["u32", shape.m], ["u32", shape.n]]));
  const grid = spreadGrid(shape.m, gpu.adapter.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch("row_sum_squares", pipeline, [uniform, buffers.x, buffers.s], grid, { ...shape });
}
