/**
 * ProFS steps 2–4 on the CPU (docs/ARCHITECTURE.md §3): preference matrix, centering, and the top-k right singular vectors
 * by block subspace iteration with Rayleigh–Ritz, in float64. This is the oracle the WebGPU backend is held to.
 */
import type { Gemm } from "../../blas/gemm.ts";
import { createRandom } from "../random.ts";
import { ConvergenceError, InputError } from "../../../shared/errors.ts";
import type { LayerSubspace, Matrix, SubspaceParams } from "../backend.ts";
import {
  axpy,
  dot,
  largestAngleSineRows,
  orthonormalizeRows,
  symmetricEigen,
  times,
  timesTransposed,
} from "./linalg.ts";

/**
 * Extra columns iterated beyond k. Subspace iteration converges like (σ_{b+1}/σ_k)² per step for block size b,
 * so a few spare columns turn the often tiny gap σ_{k+1}/σ_k into a usable one.
 */
export const OVERSAMPLING = 8;

/** Machine epsilon of float32 (2⁻²³): embeddings, and so T, are float32 whatever precision computes with them. */
export const F32_EPSILON = 2 ** -23;

/**
 * The noise floor of T's singular values relative to σ₁: max(N, D)·ε_f32, the rule of LAPACK's and NumPy's
 * `matrix_rank` with float32's epsilon. Why: every entry of T is a float32 (pooled, differenced and centered,
 * each step rounding to float32 on the webgpu backend), so T is known only up to a perturbation E with
 * |E_ij| ≲ ε·|T_ij| per rounding, and ‖E‖₂ ≤ ‖E‖_F ≲ ε·‖T‖_F ≤ ε·√min(N, D)·σ₁; by Weyl's inequality
 * |σᵢ(T + E) − σᵢ(T)| ≤ ‖E‖₂, so singular values below that bound (the max(N, D) factor leaves room for the
 * few roundings per entry and the accumulated ones of the products) say nothing about the data, and their
 * directions are arbitrary: another backend, seed or rounding gives different ones.
 */
export function relativeNoiseFloor(n: number, d: number): number {
  return Math.max(n, d) * F32_EPSILON;
}

/** How many of the descending singular values `sigma` exceed σ₁·`relativeFloor` (0 when σ₁ is 0). */
export function countAboveFloor(sigma: ArrayLike<number>, relativeFloor: number): number {
  let count = 0;
  while (count < sigma.length && sigma[count] > 0 && sigma[count] > sigma[0] * relativeFloor) count++;
  return count;
}

export interface TopSingular {
  /** [d, k] orthonormal columns, by descending singular value; each column's largest entry is positive. */
  basis: Float64Array;
  values: number[];
  iterations: number;
  /** Sine of the largest principal angle between the last two iterates of the top `effectiveRank` vectors. */
  residual: number;
  converged: boolean;
  /** How many of the k singular values stand above the noise floor (`relativeNoiseFloor`); ≤ k. */
  effectiveRank: number;
}

/**
 * Iterations after which, when T has fewer rows than columns (N < D, the usual case), the iteration moves to the
 * N×N Gram matrix T Tᵀ: forming it costs N²D/2, about as much as this many steps with T itself (2·N·D·b each,
 * b = k + 8), after which a step costs N²·b instead; switching at the break-even point costs at most twice the
 * better choice made in hindsight. Quickly converging problems (centering) never pay for the Gram matrix.
 * Callers that know their problem converges slowly pass `gramAfter: 0` and skip the D-space steps.
 */
export const GRAM_SWITCH_ITERATIONS = 10;

/** A symmetric positive semi-definite operator applied to a block of row vectors [b, dim]. */
interface SymmetricOperator {
  dim: number;
  apply(rows: Float64Array, b: number): Float64Array;
}

interface BlockState {
  /** Ritz vectors as rows [b, dim], ordered by descending Ritz value. */
  q: Float64Array;
  values: Float64Array;
  iterations: number;
  residual: number;
  converged: boolean;
  /** Top Ritz vectors above the noise floor: the ones whose convergence is tested. */
  effective: number;
}

/**
 * Top-k right singular vectors of t [n, d] (float64). Convergence is tested on the top min(k, effective rank)
 * vectors: directions at the noise floor are arbitrary (any orthonormal completion is as good) and never settle.
 * Hitting `maxIterations` returns `converged: false`; `toxicSubspaceCpu` turns that into a `ConvergenceError`.
 */
export function topRightSingularVectors(
  t: Float64Array,
  n: number,
  d: number,
  k: number,
  options: Pick<SubspaceParams, "tolerance" | "maxIterations" | "seed"> & { gramAfter?: number; gemm?: Gemm },
): TopSingular {
  const b = Math.min(k + OVERSAMPLING, n, d);
  const random = createRandom(options.seed);
  let q: Float64Array = Float64Array.from({ length: b * d }, () => random.normal());
  orthonormalizeRows(q, b, d, random);
  const normal: SymmetricOperator = {
    dim: d,
    apply: (rows, m) =>
      transposeTimesRows(t, timesRows(t, rows, n, d, m, options.gemm), n, d, m, options.gemm),
  };
  const gramAfter = options.gramAfter ?? GRAM_SWITCH_ITERATIONS;
  const budget = n < d ? Math.min(gramAfter, options.maxIterations) : options.maxIterations;
  const floor = relativeNoiseFloor(n, d);
  let state = blockIteration(normal, q, b, k, budget, options.tolerance, floor, random);
  if (!state.converged && state.iterations < options.maxIterations && n < d) {
    // Continue in the row space: the top eigenvectors U of T Tᵀ give V = Tᵀ U (normalised), same σ².
    const gram = gramOfRows(t, n, d, options.gemm);
    const start = timesRows(t, state.q, n, d, b, options.gemm);
    orthonormalizeRows(start, b, n, random);
    const rowSpace: SymmetricOperator = {
      dim: n,
      apply: (rows, m) => timesSymmetric(gram, rows, n, m, options.gemm),
    };
    const more = blockIteration(
      rowSpace,
      start,
      b,
      k,
      options.maxIterations - state.iterations,
      options.tolerance,
      floor,
      random,
    );
    q = transposeTimesRows(t, more.q.subarray(0, k * n), n, d, k, options.gemm);
    orthonormalizeRows(q, k, d, random);
    state = { ...more, q, iterations: state.iterations + more.iterations };
  }
  const basis = new Float64Array(d * k); // [d, k]
  for (let j = 0; j < k; j++) for (let c = 0; c < d; c++) basis[c * k + j] = state.q[j * d + c];
  fixSigns(basis, d, k);
  const values = [...state.values.subarray(0, k)].map((v) => Math.sqrt(Math.max(0, v)));
  return {
    basis,
    values,
    iterations: state.iterations,
    residual: state.residual,
    converged: state.converged,
    effectiveRank: countAboveFloor(values, floor),
  };
}

/**
 * Block subspace iteration with Rayleigh–Ritz: each step filters the block (a plain application of `op`, or a
 * Chebyshev filter of `op` once Ritz values bound the unwanted spectrum), then takes the Ritz vectors of the
 * block; stops when the top Ritz vectors moved less than `tolerance` (sine of the largest principal angle): the
 * top k, or fewer when some of them are at the noise floor (Ritz value ≤ (relativeFloor)²·θ₁, θ = σ²): those
 * are arbitrary directions in T's numerical null space, redrawn or rotated at every step.
 * `iterations` and `budget` count applications of `op`, whatever the filters' degrees.
 */
function blockIteration(
  op: SymmetricOperator,
  start: Float64Array,
  b: number,
  k: number,
  budget: number,
  tolerance: number,
  relativeFloor: number,
  random: ReturnType<typeof createRandom>,
): BlockState {
  const m = op.dim;
  let q = start; // orthonormal rows [b, m]
  let previous: Float64Array | null = null; // top-k Ritz vectors of the last step [k, m]
  let residual = Infinity;
  let effective = k;
  let values: Float64Array = new Float64Array(b);
  let iterations = 0;
  while (iterations < budget) {
    iterations++;
    let z = op.apply(q, b); // [b, m]
    const ritz = new Float64Array(b * b); // qᵀ op q
    for (let i = 0; i < b; i++) {
      for (let j = i; j < b; j++) {
        const v = (dot(q.subarray(i * m, (i + 1) * m), z.subarray(j * m, (j + 1) * m)) +
          dot(q.subarray(j * m, (j + 1) * m), z.subarray(i * m, (i + 1) * m))) / 2;
        ritz[i * b + j] = ritz[j * b + i] = v;
      }
    }
    const eig = symmetricEigen(ritz, b);
    q = rotateRows(q, eig.vectors, b, m);
    z = rotateRows(z, eig.vectors, b, m);
    values = eig.values;
    const top = q.slice(0, k * m);
    effective = countAboveFloor(
      [...values.subarray(0, k)].map((v) => Math.sqrt(Math.max(0, v))),
      relativeFloor,
    );
    if (previous) {
      residual = effective === 0 ? 0 : largestAngleSineRows(
        top.subarray(0, effective * m),
        previous.subarray(0, effective * m),
        effective,
        m,
      );
      if (residual < tolerance) break;
    }
    previous = top;
    if (iterations < budget) {
      const degree = filterDegree(values, budget - iterations);
      q = degree === 1 ? z : chebyshevFilter(op, q, z, values[b - 1], degree);
      iterations += degree - 1;
      orthonormalizeRows(q, b, m, random);
    }
  }
  return { q, values, iterations, residual, converged: residual < tolerance, effective };
}

/** Largest growth a filter may give the top Ritz value over the damped interval (keeps weak rows resolvable). */
const MAX_FILTER_GROWTH = Math.log(1e6);
const MAX_FILTER_DEGREE = 12;

/**
 * Degree of the next step's Chebyshev filter (1 = a plain power step), at most `budget` applications: as high
 * as keeps T_p(x₁) ≤ e^maxGrowth (default 1e6) for the top Ritz value θ₁ mapped onto [−1, 1] ↦ [0, θ_b]
 * (`values`: the block's Ritz values, descending). The webgpu backend uses it too, with a smaller growth.
 */
export function filterDegree(
  values: ArrayLike<number>,
  budget: number,
  maxGrowth = MAX_FILTER_GROWTH,
): number {
  const top = values[0], floor = values[values.length - 1];
  if (!(floor > 0) || top <= floor * (1 + 1e-9)) return 1;
  const x1 = (2 * top) / floor - 1;
  return Math.max(1, Math.min(MAX_FILTER_DEGREE, budget, Math.floor(maxGrowth / Math.acosh(x1))));
}

/**
 * Chebyshev-filtered step: T_p(2·op/θ_b − 1) applied to the rows q [b, m] (z = op·q already known), which damps
 * every eigenvalue in [0, θ_b] below 1 in size and grows those above it like cosh(p·acosh(2λ/θ_b − 1)): p
 * applications of op buy far more than p plain power steps when the gap is small (Zhou & Saad, 2007). The
 * three-term recurrence: Y₀ = q, Y₁ = (2/θ_b)·z − q, Y_{j+1} = (4/θ_b)·op·Y_j − 2·Y_j − Y_{j−1}.
 */
function chebyshevFilter(
  op: SymmetricOperator,
  q: Float64Array,
  z: Float64Array,
  floor: number,
  degree: number,
): Float64Array {
  let before = q;
  let current: Float64Array = new Float64Array(z.length);
  for (let i = 0; i < z.length; i++) current[i] = (2 / floor) * z[i] - q[i];
  for (let j = 1; j < degree; j++) {
    const next = op.apply(current, q.length / op.dim);
    for (let i = 0; i < next.length; i++) next[i] = (4 / floor) * next[i] - 2 * current[i] - before[i];
    before = current;
    current = next;
  }
  return current;
}

/** t tᵀ [n, n] for t [n, d] (dgemm on `gemm` when given, as every product below) */
function gramOfRows(t: Float64Array, n: number, d: number, gemm?: Gemm): Float64Array {
  return timesTransposed(gemm, t, n, t, n, d, true);
}

/** rows of g·u_j for symmetric g [n, n] and rows u [b, n] */
function timesSymmetric(g: Float64Array, u: Float64Array, n: number, b: number, gemm?: Gemm): Float64Array {
  return timesTransposed(gemm, u, b, g, n, n); // (g u_j)_i = u_j · g_i since g is symmetric
}

/** y [b, n] with y_j = t q_j, for t [n, d] and rows q [b, d] */
function timesRows(
  t: Float64Array,
  q: Float64Array,
  n: number,
  d: number,
  b: number,
  gemm?: Gemm,
): Float64Array {
  return timesTransposed(gemm, q, b, t, n, d);
}

/**
 * z [b, d] with z_j = tᵀ y_j, for t [n, d] and rows y [b, n]. Four rows of t per pass over z_j, so z_j is loaded
 * and stored a quarter as often as with one `axpy` per row.
 */
function transposeTimesRows(
  t: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  b: number,
  gemm?: Gemm,
): Float64Array {
  if (gemm) return times(gemm, y, b, t, n, d);
  const z = new Float64Array(b * d);
  const end = n - (n % 4);
  for (let j = 0; j < b; j++) {
    const zj = z.subarray(j * d, (j + 1) * d);
    for (let r = 0; r < end; r += 4) {
      const w0 = y[j * n + r], w1 = y[j * n + r + 1], w2 = y[j * n + r + 2], w3 = y[j * n + r + 3];
      const t0 = r * d, t1 = t0 + d, t2 = t1 + d, t3 = t2 + d;
      for (let c = 0; c < d; c++) zj[c] += w0 * t[t0 + c] + w1 * t[t1 + c] + w2 * t[t2 + c] + w3 * t[t3 + c];
    }
    for (let r = end; r < n; r++) axpy(y[j * n + r], t, r * d, zj, d);
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
export function toxicSubspaceCpu(
  preferred: Matrix,
  rejected: Matrix,
  params: SubspaceParams & { gemm?: Gemm },
): LayerSubspace {
  const { rows: n, cols: d } = preferred;
  checkSubspaceInputs(preferred, rejected, params);
  const t = new Float64Array(n * d); // T [N, D]
  for (let i = 0; i < t.length; i++) t[i] = (preferred.data[i] - rejected.data[i]) / 2;
  if (params.centering) {
    const x = new Float64Array(preferred.data); // X⁺ [N, D] (a typed-array copy: `.from` is 10× slower)
    const mu = topRightSingularVectors(x, n, d, 1, params); // [D, 1]
    if (!mu.converged) throw convergenceError(CENTERING, { ...mu, tolerance: params.tolerance });
    removeDirection(t, n, d, mu.basis);
  }
  let total = 0;
  for (let i = 0; i < t.length; i++) total += t[i] * t[i];
  if (total === 0) {
    throw new InputError(
      "Cannot compute a toxic subspace as preferred and rejected embeddings must differ: every pair's difference is zero",
    );
  }
  // T's top directions stand over a noise floor with a small gap (25–35 applications, filtered, on GPT-2-medium-
  // shaped embeddings; 50–80 plain steps),
  // so its Gram matrix pays for itself at once; X⁺'s dominant mean direction above converges in a few D-space steps.
  const top = topRightSingularVectors(t, n, d, params.rank, { ...params, gramAfter: 0 });
  if (!top.converged) throw convergenceError(toxicWhat(params.rank), { ...top, tolerance: params.tolerance });
  return {
    basis: { rows: d, cols: params.rank, data: new Float32Array(top.basis) },
    singularValues: top.values,
    explainedVariance: top.values.map((s) => (s * s) / total),
    iterations: top.iterations,
    residual: top.residual,
    tolerance: params.tolerance,
    converged: top.converged,
    effectiveRank: top.effectiveRank,
    noiseFloor: top.values[0] * relativeNoiseFloor(n, d),
  };
}

/** What the centering's iteration computes, for its `ConvergenceError`. */
export const CENTERING = "the centering direction (top direction of the preferred embeddings)";

/** What the main iteration computes, for its `ConvergenceError`. */
export function toxicWhat(rank: number): string {
  return `the toxic subspace (rank ${rank})`;
}

/** The error for an iteration that hit `maxIterations` (both backends). */
export function convergenceError(
  what: string,
  state: { iterations: number; residual: number; tolerance: number },
): ConvergenceError {
  return new ConvergenceError({ what, ...state });
}

/** t [n, d] ← t (I − μ μᵀ) for a unit μ [d] */
function removeDirection(t: Float64Array, n: number, d: number, mu: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += t[i * d + j] * mu[j];
    for (let j = 0; j < d; j++) t[i * d + j] -= dot * mu[j];
  }
}

/** Singular vectors are defined up to sign; pick the one whose largest-magnitude entry is positive (v [rows, k]). */
export function fixSigns(v: Float32Array | Float64Array, rows: number, k: number): void {
  for (let j = 0; j < k; j++) {
    let best = 0;
    for (let r = 0; r < rows; r++) if (Math.abs(v[r * k + j]) > Math.abs(best)) best = v[r * k + j];
    if (best < 0) { for (let r = 0; r < rows; r++) v[r * k + j] = -v[r * k + j]; }
  }
}

/** The input rules of `ProfsBackend.toxicSubspace`, shared so every backend rejects the same inputs the same way. */
export function checkSubspaceInputs(preferred: Matrix, rejected: Matrix, params: SubspaceParams): void {
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
  if (!Number.isInteger(params.maxIterations) || params.maxIterations < 1) {
    throw new InputError(
      `Cannot compute a toxic subspace as 'maxIterations' must be a positive integer: current value is ${params.maxIterations}`,
    );
  }
}
