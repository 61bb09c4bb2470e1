/**
 * cholesky_qr: R⁻¹ [K, K] from G = YᵀY [K, K] so that Y R⁻¹ is orthonormal (shaders/cholesky_qr.wgsl), with the
 * shifted retry when G is numerically singular. The GPU version runs in f32 inside the iteration loop; the
 * final orthonormalisation uses `choleskyF64` from shared math on the CPU.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

const EPS = 5.96e-8;

export interface CholeskyQrShape {
  /** R, the rows of Y (only scales the shift). */
  rows: number;
  k: number;
}

/** g [K, K] symmetric → rinv [K, K] upper triangular (I when g has zero trace). */
export function choleskyQrCpu(g: Float32Array, shape: CholeskyQrShape): Float32Array {
  const { rows, k } = shape;
  checkDims("cholesky_qr", { rows, k });
  checkLength("cholesky_qr", "g", g, k * k);
  let trace = 0;
  for (let i = 0; i < k; i++) trace += g[i * k + i];
  const rinv = new Float32Array(k * k);
  let l = trace > 0 ? factor(g, k, 0, 4 * EPS * trace) : null;
  if (trace > 0 && !l) l = factor(g, k, 11 * (rows * k + k * (k + 1)) * EPS * trace, 0);
  if (!l) {
    for (let i = 0; i < k; i++) rinv[i * k + i] = 1;
    return rinv;
  }
  for (let j = 0; j < k; j++) {
    rinv[j * k + j] = 1 / l[j * k + j];
    for (let i = j - 1; i >= 0; i--) {
      let sum = 0;
      for (let p = i + 1; p <= j; p++) sum += l[p * k + i] * rinv[p * k + j];
      rinv[i * k + j] = -sum / l[i * k + i];
    }
  }
  return rinv;
}

/** Lower-triangular L with g + shift·I = L Lᵀ, or null when a pivot is not above `floor`. */
function factor(g: Float32Array, k: number, shift: number, floor: number): Float64Array | null {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = g[i * k + j] + (i === j ? shift : 0);
      for (let p = 0; p < j; p++) sum -= l[i * k + p] * l[j * k + p];
      if (i === j) {
        if (!(sum > floor)) return null;
        l[i * k + i] = Math.sqrt(sum);
      } else {
        l[i * k + j] = sum / l[j * k + j];
      }
    }
  }
  return l;
}

export async function encodeCholeskyQr(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { g: GPUBuffer; rinv: GPUBuffer },
  shape: CholeskyQrShape,
): Promise<void> {
  checkDims("cholesky_qr", { rows: shape.rows, k: shape.k });
  const pipeline = await gpu.pipeline({
    kernel: "cholesky_qr",
    code: await loadShader("cholesky_qr"),
    constants: { K: shape.k },
  });
  batch.dispatch(
    "cholesky_qr",
    pipeline,
    [gpu.uniform(packUniform([["u32", shape.rows]])), buffers.g, buffers.rinv],
    [1],
    { ...shape },
  );
}
