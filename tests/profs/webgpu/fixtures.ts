/**
 * Inputs for the backend tests: the paper's factor model (Uppaal et al. §3: a shared mean direction plus a
 * per-pair context plus noise; rejected texts add a toxic component B f, B [D, k] orthonormal, so the top-k right
 * singular vectors of the centered T span B) and principal angles between bases read back from either backend.
 */
import { createRandom } from "../../../gpu-worker/profs/random.ts";
import { type Matrix, matrix } from "../../../gpu-worker/profs/backend.ts";
import { orthonormalizeColumns, principalAngles } from "../../../gpu-worker/profs/cpu/linalg.ts";

export function orthonormal(rows: number, cols: number, seed: number): Float64Array {
  const random = createRandom(seed);
  const q = Float64Array.from({ length: rows * cols }, () => random.normal());
  orthonormalizeColumns(q, rows, cols, createRandom(seed + 1));
  return q;
}

export interface FactorModel {
  preferred: Matrix;
  rejected: Matrix;
  /** B [D, k] */
  toxic: Float64Array;
}

export function factorModel(n: number, d: number, k: number, seed: number, noise = 0.05): FactorModel {
  const random = createRandom(seed);
  const directions = orthonormal(d, 1 + k, seed + 1); // [μ̂ | B], the mean orthogonal to the toxic subspace
  const context = orthonormal(d, 6, seed + 3); // C [D, 6]
  const preferred = new Float32Array(n * d);
  const rejected = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const g = Array.from({ length: 6 }, () => random.normal());
    const f = Array.from({ length: k }, (_, j) => (k - j + 1) * (1 + 0.3 * random.normal()));
    for (let c = 0; c < d; c++) {
      let shared = 8 * directions[c * (1 + k)];
      for (let j = 0; j < 6; j++) shared += context[c * 6 + j] * g[j];
      let tox = 0;
      for (let j = 0; j < k; j++) tox += directions[c * (1 + k) + 1 + j] * f[j];
      preferred[i * d + c] = shared + noise * random.normal();
      rejected[i * d + c] = shared + tox + noise * random.normal();
    }
  }
  const toxic = new Float64Array(d * k);
  for (let c = 0; c < d; c++) for (let j = 0; j < k; j++) toxic[c * k + j] = directions[c * (1 + k) + 1 + j];
  return { preferred: matrix(n, d, preferred), rejected: matrix(n, d, rejected), toxic };
}

/** Gaussian [rows, cols] f32 matrix. */
export function gaussianMatrix(rows: number, cols: number, seed: number, scale = 1): Matrix {
  const random = createRandom(seed);
  return matrix(rows, cols, Float32Array.from({ length: rows * cols }, () => scale * random.normal()));
}

/** Largest principal angle (radians) between the column spans of two orthonormal [d, k] bases. */
export function largestAngle(a: ArrayLike<number>, b: ArrayLike<number>, d: number, k: number): number {
  return Math.max(...principalAngles(Float64Array.from(a), Float64Array.from(b), d, k));
}
