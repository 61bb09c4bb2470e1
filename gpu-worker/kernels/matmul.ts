/**
 * matmul: C [M, N] = op(A) · op(B) (shaders/matmul.wgsl). op(A) is A [M, K] or Aᵀ of A stored [K, M]; op(B) is
 * B [K, N] or Bᵀ of B stored [N, K]. The twin `matmulCpu` is the spec.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";

export interface MatmulShape {
  m: number;
  n: number;
  k: number;
  /** A is stored [K, M] and used transposed. */
  transA?: boolean;
  /** B is stored [N, K] and used transposed. */
  transB?: boolean;
}

/** a [M, K] (or [K, M] with transA), b [K, N] (or [N, K] with transB) → c [M, N], naive triple loop. */
export function matmulCpu(a: Float32Array, b: Float32Array, shape: MatmulShape): Float32Array {
  const { m, n, k, transA = false, transB = false } = shape;
  checkLengths(a, b, shape);
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i] : a[i * k + p];
        const bv = transB ? b[j * k + p] : b[p * n + j];
        sum += av * bv;
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

/** Records c [M, N] = op(a) · op(b) into `batch`. */
export async function encodeMatmul(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { a: GPUBuffer; b: GPUBuffer; c: GPUBuffer },
  shape: MatmulShape,
): Promise<void> {
  const { m, n, k, transA = false, transB = false } = shape;
  checkPositive(shape);
  const pipeline = await gpu.pipeline({
    kernel: "matmul",
    code: await loadShader("matmul"),
    constants: { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0 },
  });
  // vec4 loads need the operand's contiguous axis (its stored column count) to be a multiple of 4.
  const alignedA = (transA ? m : k) % 4 === 0;
  const alignedB = (transB ? k : n) % 4 === 0;
  const uniform = gpu.uniform(packUniform([
    ["u32", m],
    ["u32", n],
    ["u32", k],
    ["u32", alignedA ? 1 : 0],
    ["u32", alignedB ? 1 : 0],
  ]));
  batch.dispatch("matmul", pipeline, [uniform, buffers.a, buffers.b, buffers.c], [
    Math.ceil(n / 64),
    Math.ceil(m / 64),
  ], { m, n, k, transA, transB });
}

/** FLOPs of one product (multiply and add counted separately), for GFLOP/s figures. */
export function matmulFlops(shape: MatmulShape): number {
  return 2 * shape.m * shape.n * shape.k;
}

function checkPositive(shape: MatmulShape): void {
  for (const key of ["m", "n", "k"] as const) {
    if (!Number.isInteger(shape[key]) || shape[key] < 1) {
      throw new RangeError(
        `Cannot multiply as '${key}' must be a positive integer: current value is ${shape[key]}`,
      );
    }
  }
}

function checkLengths(a: Float32Array, b: Float32Array, shape: MatmulShape): void {
  checkPositive(shape);
  if (a.length !== shape.m * shape.k) {
    throw new RangeError(
      `Cannot multiply as A must have m·k = ${shape.m * shape.k} elements: has ${a.length}`,
    );
  }
  if (b.length !== shape.k * shape.n) {
    throw new RangeError(
      `Cannot multiply as B must have k·n = ${shape.k * shape.n} elements: has ${b.length}`,
    );
  }
}
