/**
 * rank_k_update: C [M, N] ← β·C + α·A [M, KA] · op(B) (shaders/rank_k_update.wgsl), op(B) = B [KA, N] or Bᵀ of
 * B [N, KA] when transB. In place on C: the projection, the centering, Q ← Q W (Ritz rotation) and the
 * convergence residual.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface RankKShape {
  m: number;
  n: number;
  ka: number;
  /** B is stored [N, KA] and used transposed. */
  transB?: boolean;
  alpha: number;
  /** 0 overwrites C without reading it. */
  beta: number;
}

/** c [M, N] (updated in place and returned), a [M, KA], b [KA, N] or [N, KA]. */
export function rankKUpdateCpu(
  c: Float32Array,
  a: Float32Array,
  b: Float32Array,
  shape: RankKShape,
): Float32Array {
  const { m, n, ka, transB = false, alpha, beta } = shape;
  checkDims("rank_k_update", { m, n, ka });
  checkLength("rank_k_update", "c", c, m * n);
  checkLength("rank_k_update", "a", a, m * ka);
  checkLength("rank_k_update", "b", b, ka * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < ka; p++) sum += a[i * ka + p] * (transB ? b[j * ka + p] : b[p * n + j]);
      c[i * n + j] = beta === 0 ? alpha * sum : beta * c[i * n + j] + alpha * sum;
    }
  }
  return c;
}

/** Records c ← β·c + α·a · op(b); `c` must not alias `a` or `b`. */
export async function encodeRankKUpdate(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { c: GPUBuffer; a: GPUBuffer; b: GPUBuffer },
  shape: RankKShape,
): Promise<void> {
  const { m, n, ka, transB = false, alpha, beta } = shape;
  checkDims("rank_k_update", { m, n, ka });
  if (buffers.c === buffers.a || buffers.c === buffers.b) {
    throw new RangeError(
      "Cannot run rank_k_update as 'c' must not alias 'a' or 'b': they are the same buffer",
    );
  }
  const pipeline = await gpu.pipeline({ kernel: "rank_k_update", code: await loadShader("rank_k_update") });
  const uniform = gpu.uniform(packUniform([
    ["u32", m],
    ["u32", n],
    ["u32", ka],
    ["u32", transB ? 1 : 0],
    ["f32", alpha],
    ["f32", beta],
  ]));
  batch.dispatch("rank_k_update", pipeline, [uniform, buffers.a, buffers.b, buffers.c], [
    Math.ceil(n / 16),
    Math.ceil(m / 16),
  ], { m, n, ka, transB });
}
