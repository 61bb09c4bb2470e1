/**
 * gram_schmidt: Q [R, K] ← orthonormal columns, in place and in order (shaders/gram_schmidt.wgsl): modified
 * Gram–Schmidt twice, each column scaled by its largest entry first, columns that (nearly) lie in the span of the
 * earlier ones replaced by hashed pseudo-random vectors. The orthonormalisation of every subspace step.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface GramSchmidtShape {
  rows: number;
  /** Columns, at most `rows`. */
  k: number;
  /** Seed of the replacement vectors (a u32). */
  seed: number;
}

/** 2⁻¹²: a column keeps its direction when at least half of its f32 bits survive the projections. */
export const KEEP = 2 ** -12;
const ATTEMPTS = 4;

/** q [R, K] → a new [R, K] with orthonormal columns (float64 arithmetic, rounded to f32 at the end). */
export function gramSchmidtCpu(q: Float32Array, shape: GramSchmidtShape): Float32Array {
  const { rows, k, seed } = shape;
  checkShape(shape);
  checkLength("gram_schmidt", "q", q, rows * k);
  const out = Float64Array.from(q);
  for (let j = 0; j < k; j++) {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) { for (let r = 0; r < rows; r++) out[r * k + j] = noise(r, j, attempt, seed); }
      let top = 0;
      for (let r = 0; r < rows; r++) top = Math.max(top, Math.abs(out[r * k + j]));
      if (!(top > 0) || top > 3e38) continue;
      let ss = 0;
      for (let r = 0; r < rows; r++) ss += (out[r * k + j] /= top) ** 2;
      const before = Math.sqrt(ss);
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < j; i++) {
          let dot = 0;
          for (let r = 0; r < rows; r++) dot += out[r * k + i] * out[r * k + j];
          for (let r = 0; r < rows; r++) out[r * k + j] -= dot * out[r * k + i];
        }
      }
      ss = 0;
      for (let r = 0; r < rows; r++) ss += out[r * k + j] ** 2;
      const norm = Math.sqrt(ss);
      if (norm > KEEP * before) {
        for (let r = 0; r < rows; r++) out[r * k + j] /= norm;
        break;
      }
    }
  }
  return Float32Array.from(out);
}

/** PCG hash (O'Neill), as the shader's `pcg`. */
function pcg(x: number): number {
  const s = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The shader's replacement entry for (row, column, attempt), in [−1, 1). */
export function noise(row: number, col: number, attempt: number, seed: number): number {
  const h = pcg((row ^ pcg((col ^ pcg((attempt ^ pcg(seed >>> 0)) >>> 0)) >>> 0)) >>> 0);
  return (h >>> 8) / 8388608 - 1;
}

function checkShape(shape: GramSchmidtShape): void {
  checkDims("gram_schmidt", { rows: shape.rows, k: shape.k });
  if (shape.k > shape.rows) {
    throw new RangeError(
      `Cannot run gram_schmidt as 'k' must be at most 'rows' (${shape.rows}): current value is ${shape.k}`,
    );
  }
  if (!Number.isInteger(shape.seed) || shape.seed < 0 || shape.seed > 0xffffffff) {
    throw new RangeError(`Cannot run gram_schmidt as 'seed' must be a u32: current value is ${shape.seed}`);
  }
}

/** Records q ← orthonormal columns of q [R, K]: K dispatches, column j against columns 0 … j−1. */
export async function encodeGramSchmidt(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { q: GPUBuffer },
  shape: GramSchmidtShape,
): Promise<void> {
  checkShape(shape);
  const pipeline = await gpu.pipeline({ kernel: "gram_schmidt", code: await loadShader("gram_schmidt") });
  for (let column = 0; column < shape.k; column++) {
    const uniform = gpu.uniform(
      packUniform([["u32", shape.rows], ["u32", shape.k], ["u32", shape.seed], ["u32", column]]),
    );
    batch.dispatch("gram_schmidt", pipeline, [uniform, buffers.q], [1], { ...shape, column });
  }
}
