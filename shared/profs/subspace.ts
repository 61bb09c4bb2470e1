/**
 * ProFS steps 2–4 on the CPU (DESIGN.md §1): preference matrix, centering, and the top-k right singular vectors
 * by block subspace iteration with Rayleigh–Ritz, in float64. This is the oracle the WebGPU backend is held to.
 */
import { createRandom } from "../data/random.ts";
import { InputError } from "../errors.ts";
import type { LayerSubspace, Matrix, SubspaceParams } from "./backend.ts";
import { axpy, dot, largestAngleSineRows, orthonormalizeRows, symmetricEigen } from "./linalg.ts";

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
  // The block is kept as rows: q [b, d] holds the current basis vectors, y [b, n] their images t·q_j.
  let q: Float64Array = Float64Array.from({ length: b * d }, () => random.normal());
  orthonormalizeRows(q, b, d, random);
  let y = timesRows(t, q, n, d, b);
  let previous: Float64Array | null = null; // top-k rows of the last iterate [k, d]
  let residual = Infinity;
  let values: Float64Array = new Float64Array(b);
  let iterations = 0;
  while (iterations < options.maxIterations) {
    iterations++;
    q = transposeTimesRows(t, y, n, d, b); // rows of tᵀ t q
    orthonormalizeRows(q, b, d, random);
    y = timesRows(t, q, n, d, b);
    // Rayleigh–Ritz: rotate the block by the eigenvectors of (tq)ᵀ(tq) so its rows are ordered Ritz vectors.
    const gram = new Float64Array(b * b);
    for (let i = 0; i < b; i++) {
      for (let j = i; j < b; j++) {
        gram[i * b + j] = gram[j * b + i] = dot(
          y.subarray(i * n, (i + 1) * n),
          y.subarray(j * n, (j + 1) * n),
        );
      }
    }
    const eig = symmetricEigen(gram, b);
    q = rotateRows(q, eig.vectors, b, d);
    y = rotateRows(y, eig.vectors, b, n);
    values = eig.values;
    const top = q.slice(0, k * d);
    if (previous) {
      residual = largestAngleSineRows(top, previous, k, d);
      if (residual < options.tolerance) break;
    }
    previous = top;
  }
  const basis = new Float64Array(d * k); // [d, k]
  for (let j = 0; j < k; j++) for (let c = 0; c < d; c++) basis[c * k + j] = q[j * d + c];
  fixSigns(basis, d, k);
  return {
    basis,
    values: [...values.subarray(0, k)].map((v) => Math.sqrt(Math.max(0, v))),
    iterations,
    residual,
    converged: residual < options.tolerance,
  };
}

/** y [b, n] with y_j = t q_j, for t [n, d] and rows q [b, d] */
function timesRows(t: Float64Array, q: Float64Array, n: number, d: number, b: number): Float64Array {
  const y = new Float64Array(b * n);
  for (let r = 0; r < n; r++) {
    const row = t.subarray(r * d, (r + 1) * d);
    for (let j = 0; j < b; j++) y[j * n + r] = dot(row, q.subarray(j * d, (j + 1) * d));
  }
  return y;
}

/** z [b, d] with z_j = tᵀ y_j, for t [n, d] and rows y [b, n] */
function transposeTimesRows(t: Float64Array, y: Float64Array, n: number, d: number, b: number): Float64Array {
  const z = new Float64Array(b * d);
  for (let j = 0; j < b; j++) {
    const zj = z.subarray(j * d, (j + 1) * d);
    for (let r = 0; r < n; r++) {
      const w = y[j * n + r];
      if (w !== 0) axpy(w, t, r * d, zj, d);
    }
  }
  return z;
}

/** out_j = Σ_i w[i, j] · rows_i for rows [b, len] and w [b, b] (column j = new row j) */
function rotateRows(rows: Float64Array, w: Float64Array, b: number, len: number): Float64Array {
  const out = new Float64Array(b * len);
  for (let j = 0; j < b; j++) {
    const oj = out.subarray(j * len, (j + 1) * len);
    for (let i = 0; i < b; i++) axpy(w[i * b + j], rows, i * len, oj, len);
  }
  return out;
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

/** Singular vectors are defined up to sign; pick the one whose largest-magnitude entry is positive. */
function fixSigns(v: Float64Array, rows: number, k: number): void {
  for (let j = 0; j < k; j++) {
    let best = 0;
    for (let r = 0; r < rows; r++) if (Math.abs(v[r * k + j]) > Math.abs(best)) best = v[r * k + j];
    if (best < 0) { for (let r = 0; r < rows; r++) v[r * k + j] = -v[r * k + j]; }
  }
}
