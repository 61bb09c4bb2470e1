/**
 * The contract between the edit pipeline and a compute backend for ProFS's own stages (docs/ARCHITECTURE.md §3 steps 2–5).
 * `cpu` (gpu-worker/profs/cpu/backend.ts, plain TypeScript, the oracle) and `webgpu` (gpu-worker/profs/webgpu/backend.ts,
 * WGSL kernels) implement it and must agree to fp32 tolerance.
 */

export { type Matrix, matrix, type Orientation } from "../../shared/formats/matrix.ts";
import type { Matrix, Orientation } from "../../shared/formats/matrix.ts";
import type { ComputeBackend } from "../runtime/backends.ts";

export interface SubspaceParams {
  /** k, the number of directions removed (default 2). */
  rank: number;
  /** Project out the top right singular vector of X⁺ first (default true). */
  centering: boolean;
  /** Stop when the subspace moved less than this (sine of the largest principal angle). */
  tolerance: number;
  /** Hard cap on applications of TᵀT; hitting it throws a `ConvergenceError` (shared/errors.ts), never an edit. */
  maxIterations: number;
  /** Seed of the random start block. */
  seed: number;
}

export const DEFAULT_SUBSPACE_PARAMS: SubspaceParams = {
  rank: 2,
  centering: true,
  tolerance: 1e-6,
  maxIterations: 2000,
  seed: 0,
};

export interface LayerSubspace {
  /** V, [D, k], orthonormal columns, ordered by descending singular value. */
  basis: Matrix;
  /** The top-k singular values of the (centered) preference matrix T, descending. */
  singularValues: number[];
  /** σᵢ² / ‖T‖_F² for each of the k directions. */
  explainedVariance: number[];
  /** Subspace iterations run. */
  iterations: number;
  /**
   * Final subspace change: sine of the largest principal angle between the last two iterates of the top
   * `effectiveRank` directions (the ones above the noise floor; the others never settle).
   */
  residual: number;
  /**
   * What `residual` was held to: the parameter's tolerance, or on webgpu f32's floor for the compared
   * directions when that is larger (float32 iterates of a direction with small σ jitter by about that much).
   */
  tolerance: number;
  /** Always true: a backend throws a `ConvergenceError` instead of returning an unconverged subspace. */
  converged: boolean;
  /**
   * How many of the k directions have σ above `noiseFloor` (≤ k). Fewer than k means the rank asked for exceeds
   * what the data hold: the remaining directions are arbitrary (they differ between backends and seeds), and
   * the pipeline warns.
   */
  effectiveRank: number;
  /** σ₁·max(N, D)·ε_f32 (shared/profs/subspace.ts `relativeNoiseFloor`): σ at or below it is rounding noise. */
  noiseFloor: number;
}

export interface Projection {
  edited: Matrix;
  removed: Matrix;
}

export interface ProfsBackend {
  readonly name: ComputeBackend;
  /** preferred, rejected: [N, D] pooled embeddings of one layer → the toxic subspace of T = (X⁺ − X⁻)/2. */
  toxicSubspace(preferred: Matrix, rejected: Matrix, params: SubspaceParams): Promise<LayerSubspace>;
  /**
   * Remove span(V) from W's D axis without forming the D×D projector. `weight` is handed over: a backend may
   * write the edited values into `weight.data` and return it as `edited` (the cpu backend does), so a caller
   * that still needs the original keeps its own copy.
   */
  project(weight: Matrix, basis: Matrix, orientation: Orientation): Promise<Projection>;
  /**
   * Only `project`'s `removed` (W V [R, k] for d-cols, Vᵀ W [k, C] for d-rows, float32), `weight` left as it is:
   * what the edit pipeline needs, as it applies the edit itself. Optional — without it the pipeline runs
   * `project` on a copy of the weight and keeps `removed`.
   */
  removedPart?(weight: Matrix, basis: Matrix, orientation: Orientation): Promise<Matrix>;
  /** Release device resources (no-op on the CPU). */
  dispose(): void;
}
