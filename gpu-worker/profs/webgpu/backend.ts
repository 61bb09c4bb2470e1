/**
 * The `webgpu` ProFS backend (docs/ARCHITECTURE.md §3 steps 2–5) on hand-written WGSL kernels: preference matrix, centering,
 * toxic subspace by GPU-resident subspace iteration, and the in-place projection of the MLP output matrix. It
 * implements the same contract as the CPU oracle (gpu-worker/profs/cpu/backend.ts) and agrees with it to f32
 * tolerance: same validation, same random start, same block size, same sign convention.
 */
import { InputError } from "../../../shared/errors.ts";
import type {
  LayerSubspace,
  Matrix,
  Orientation,
  ProfsBackend,
  Projection,
  SubspaceParams,
} from "../backend.ts";
import { acquireGpu, type Gpu } from "../../runtime/gpu.ts";
import { encodeColsDot } from "../../kernels/cols_dot.ts";
import { encodeRankKUpdate } from "../../kernels/rank_k_update.ts";
import { encodeRowSumSquares } from "../../kernels/row_sum_squares.ts";
import { encodeRowsDot } from "../../kernels/rows_dot.ts";
import { encodeScaleAdd } from "../../kernels/scale_add.ts";
import { topRightSingularGpu } from "./subspace.ts";
import {
  CENTERING,
  checkSubspaceInputs,
  convergenceError,
  fixSigns,
  relativeNoiseFloor,
  toxicWhat,
} from "../cpu/subspace.ts";

/** The webgpu backend on a new device, or null when there is no WebGPU adapter. */
export async function createWebGpuBackend(): Promise<ProfsBackend | null> {
  const gpu = await acquireGpu();
  return gpu ? webGpuBackend(gpu) : null;
}

/** The webgpu backend on an existing device; `dispose` destroys it. */
export function webGpuBackend(gpu: Gpu): ProfsBackend & { gpu: Gpu } {
  return {
    name: "webgpu",
    gpu,
    toxicSubspace: (preferred, rejected, params) => toxicSubspaceWebGpu(gpu, preferred, rejected, params),
    project: (weight, basis, orientation) => projectWebGpu(gpu, weight, basis, orientation),
    dispose: () => gpu.dispose(),
  };
}

/** preferred, rejected [N, D] → V [D, k] of T = (X⁺ − X⁻)/2, centered against X⁺'s top direction if asked. */
export async function toxicSubspaceWebGpu(
  gpu: Gpu,
  preferred: Matrix,
  rejected: Matrix,
  params: SubspaceParams,
): Promise<LayerSubspace> {
  const { rows: n, cols: d } = preferred;
  checkSubspaceInputs(preferred, rejected, params);
  const xp = gpu.upload(preferred.data, "X+"); // [N, D]
  const xm = gpu.upload(rejected.data, "X-"); // [N, D]
  const t = gpu.storage(n * d * 4, "T"); // [N, D]
  const rowSums = gpu.storage(n * 4, "rowSums"); // [N]
  const owned = [xp, xm, t, rowSums];
  try {
    const build = gpu.batch("preference_matrix");
    await encodeScaleAdd(gpu, build, { x: xp, y: xm, z: t }, { length: n * d, alpha: 0.5, beta: -0.5 });
    await build.submit();
    if (params.centering) {
      const mu = await topRightSingularGpu(gpu, xp, { n, d, k: 1 }, params); // μ [D, 1]
      const tmu = gpu.storage(n * 4, "Tmu"); // [N, 1]
      owned.push(mu.basis, tmu);
      if (!mu.converged) throw convergenceError(CENTERING, mu);
      const center = gpu.batch("centering");
      await encodeRowsDot(gpu, center, { a: t, b: mu.basis, c: tmu }, { m: n, k: d, kb: 1 });
      await encodeRankKUpdate(gpu, center, { c: t, a: tmu, b: mu.basis }, {
        m: n,
        n: d,
        ka: 1,
        transB: true,
        alpha: -1,
        beta: 1,
      });
      await center.submit();
    }
    const norms = gpu.batch("frobenius");
    await encodeRowSumSquares(gpu, norms, { x: t, s: rowSums }, { m: n, n: d });
    await norms.submit();
    const top = await topRightSingularGpu(gpu, t, { n, d, k: params.rank }, params, [
      { buffer: rowSums, length: n },
    ]);
    owned.push(top.basis);
    if (!top.converged) throw convergenceError(toxicWhat(params.rank), top);
    let total = 0;
    for (const value of top.firstValues[0]) total += value;
    if (total === 0) {
      throw new InputError(
        "Cannot compute a toxic subspace as preferred and rejected embeddings must differ: every pair's difference is zero",
      );
    }
    const [basis] = await gpu.read([{ buffer: top.basis, length: d * params.rank }], "read_basis");
    fixSigns(basis, d, params.rank);
    return {
      basis: { rows: d, cols: params.rank, data: basis },
      singularValues: top.values,
      explainedVariance: top.values.map((s) => (s * s) / total),
      iterations: top.iterations,
      residual: top.residual,
      tolerance: top.tolerance,
      converged: top.converged,
      effectiveRank: top.effectiveRank,
      noiseFloor: top.values[0] * relativeNoiseFloor(n, d),
    };
  } finally {
    gpu.release(...owned);
  }
}

/**
 * W ← W − (W V) Vᵀ (d-cols, W [R, D]) or W ← W − V (Vᵀ W) (d-rows, W [D, C]), never forming the D×D projector;
 * removed = W V [R, k] or Vᵀ W [k, C] in f32.
 */
export async function projectWebGpu(
  gpu: Gpu,
  weight: Matrix,
  basis: Matrix,
  orientation: Orientation,
): Promise<Projection> {
  const { rows, cols } = weight;
  const k = basis.cols;
  const d = orientation === "d-cols" ? cols : rows;
  if (basis.rows !== d) {
    throw new RangeError(
      `Cannot project as the basis must have ${d} rows (the ${orientation} axis of a ${rows}×${cols} weight): it has ${basis.rows}`,
    );
  }
  const w = gpu.upload(weight.data, "W"); // [rows, cols]
  const v = gpu.upload(basis.data, "V"); // [D, k]
  const removedLength = (orientation === "d-cols" ? rows : cols) * k;
  const removed = gpu.storage(removedLength * 4, "removed"); // [R, k] or [k, C]
  try {
    const batch = gpu.batch("projection");
    if (orientation === "d-cols") {
      await encodeRowsDot(gpu, batch, { a: w, b: v, c: removed }, { m: rows, k: cols, kb: k });
      await encodeRankKUpdate(gpu, batch, { c: w, a: removed, b: v }, {
        m: rows,
        n: cols,
        ka: k,
        transB: true,
        alpha: -1,
        beta: 1,
      });
    } else {
      await encodeColsDot(gpu, batch, { a: w, b: v, c: removed }, { m: rows, n: cols, kb: k, transC: true });
      await encodeRankKUpdate(gpu, batch, { c: w, a: v, b: removed }, {
        m: rows,
        n: cols,
        ka: k,
        alpha: -1,
        beta: 1,
      });
    }
    await batch.submit();
    const [edited, removedData] = await gpu.read([
      { buffer: w, length: rows * cols },
      { buffer: removed, length: removedLength },
    ], "read_projection");
    return {
      edited: { rows, cols, data: edited },
      removed: orientation === "d-cols"
        ? { rows, cols: k, data: removedData }
        : { rows: k, cols, data: removedData },
    };
  } finally {
    gpu.release(w, v, removed);
  }
}
