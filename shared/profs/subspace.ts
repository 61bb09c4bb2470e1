/**
 * ProFS steps 2–4 on the CPU (DESIGN.md §1): preference matrix, centering, and the top-k right singular vectors
 * by block subspace iteration with Rayleigh–Ritz, in float64. This is the oracle the WebGPU backend is held to.
 */
import { createRandom } from "../data/random.ts";
import { InputError } from "../errors.ts";
import type { LayerSubspace, Matrix, SubspaceParams } from "./backend.ts";
import {
  largestAngleSine,
  matmul,
  matmulTransposeA,
  orthonormalizeColumns,
  symmetricEigen,
} from "./linalg.ts";

/**
 * Extra columns iterated beyond k. Subspace iteration converges like (σ_{b+1}/σ_k)² per step for block size b,
 * so a few spare columns turn the often tiny gap σ_{k+1}/σ_k into a usable one.
 */
export const OVERSAMPLING = 8;

export interface TopSingular {
  /** [d, k] orthonormal columns, by descending singular value; each column's largest entry is positive. */
  basis: Float64Array;
  values: number[];
  iterations: number;
  /** Sine of the largest principal angle between the last two top-k iterates. */
  residual: number;
  converged: boolean;
}

/** Top-k right singular vectors of t [n, d] (float64). */
export function topRightSingularVectors(
  t: Float64Array,
  n: number,
  d: number,
  k: number,
  options: Pick<SubspaceParams, "tolerance" | "maxIterations" | "seed">,
): TopSingular {
  const b = Math.min(k + OVERSAMPLING, n, d);
  const random = createRandom(options.seed);
  let q: Float64Array = new Float64Array(d * b); // [d, b]
  for (let i = 0; i < q.length; i++) q[i] = random.normal();
  orthonormalizeColumns(q, d, b, random);
  let y: Float64Array = matmul(t, q, n, d, b); // t q [n, b]
  let previous: Float64Array | null = null; // top-k block of the last iterate [d, k]
  let residual = Infinity;
  let values: Float64Array = new Float64Array(b);
  let iterations = 0;
  while (iterations < options.maxIterations) {
    iterations++;
    q = matmulTransposeA(t, y, n, d, b); // tᵀ t q [d, b]
    orthonormalizeColumns(q, d, b, random);
    y = matmul(t, q, n, d, b);
    // Rayleigh–Ritz: rotate q by the eigenvectors of (tq)ᵀ(tq) so its columns are ordered Ritz vectors.
    const eig = symmetricEigen(matmulTransposeA(y, y, n, b, b), b);
    q = matmul(q, eig.vectors, d, b, b);
    y = matmul(y, eig.vectors, n, b, b);
    values = eig.values;
    const top = leadingColumns(q, d, b, k);
    if (previous) {
      residual = largestAngleSine(top, previous, d, k);
      if (residual < options.tolerance) break;
    }
    previous = top;
  }
  const basis = leadingColumns(q, d, b, k);
  fixSigns(basis, d, k);
  return {
    basis,
    values: [...values.subarray(0, k)].map((v) => Math.sqrt(Math.max(0, v))),
    iterations,
    residual,
    converged: residual < options.tolerance,
  };
}

/** preferred, rejected [N, D] → V [D, k] of T = (X⁺ − X⁻)/2, centered against X⁺'s top direction if asked. */
export function toxicSubspaceCpu(preferred: Matrix, rejected: Matrix, params: SubspaceParams): LayerSubspace {
  const { rows: n, cols: d } = preferred;
  if (rejected.rows !== n || rejected.cols !== d) {
    throw new InputError(
      `Cannot compute a toxic subspace as preferred and rejected embeddings must have the same shape: [${n}, ${d}] vs [${rejected.rows}, ${rejected.cols}]`,
    );
  }
  const maxRank = Math.min(n, params.centering ? d - 1 : d);
  if (!Number.isInteger(params.rank) || params.rank < 1 || params.rank > maxRank) {
    throw new InputError(
      `Cannot compute a toxic subspace as 'rank' must be an integer from 1 to ${maxRank} (pairs: ${n}, hidden size: ${d}): current value is ${params.rank}`,
    );
  }
  const t = new Float64Array(n * d); // T [N, D]
  for (let i = 0; i < t.length; i++) t[i] = (preferred.data[i] - rejected.data[i]) / 2;
  if (params.centering) {
    const x = Float64Array.from(preferred.data); // X⁺ [N, D]
    const mu = topRightSingularVectors(x, n, d, 1, params).basis; // [D, 1]
    removeDirection(t, n, d, mu);
  }
  let total = 0;
  for (const v of t) total += v * v;
  if (total === 0) {
    throw new InputError(
      "Cannot compute a toxic subspace as preferred and rejected embeddings must differ: every pair's difference is zero",
    );
  }
  const top = topRightSingularVectors(t, n, d, params.rank, params);
  return {
    basis: { rows: d, cols: params.rank, data: Float32Array.from(top.basis) },
    singularValues: top.values,
    explainedVariance: top.values.map((s) => (s * s) / total),
    iterations: top.iterations,
    residual: top.residual,
    converged: top.converged,
  };
}

/** t [n, d] ← t (I − μ μᵀ) for a unit μ [d] */
function removeDirection(t: Float64Array, n: number, d: number, mu: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += t[i * d + j] * mu[j];
    for (let j = 0; j < d; j++) t[i * d + j] -= dot * mu[j];
  }
}

function leadingColumns(q: Float64Array, rows: number, cols: number, k: number): Float64Array {
  const out = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) out[r * k + j] = q[r * cols + j];
  return out;
}

/** Singular vectors are defined up to sign; pick the one whose largest-magnitude entry is positive. */
function fixSigns(v: Float64Array, rows: number, k: number): void {
  for (let j = 0; j < k; j++) {
    let best = 0;
    for (let r = 0; r < rows; r++) if (Math.abs(v[r * k + j]) > Math.abs(best)) best = v[r * k + j];
    if (best < 0) { for (let r = 0; r < rows; r++) v[r * k + j] = -v[r * k + j]; }
  }
}
