/**
 * A rank-k correction of the MLP output applied inside the forward pass, so a candidate ProFS edit can be
 * evaluated without writing a model: in each corrected block the MLP's product y = W·a (before its bias) becomes
 * y − V (Vᵀ y), V [D, k] orthonormal — exactly what the edited matrix W − V Vᵀ W (`down_proj`, `fc_out`, `fc2`,
 * stored [D, I]) or W − (W V) Vᵀ (GPT-2's Conv1D `c_proj`, stored [I, D]) computes, since both remove span(V) from
 * the D axis. The bias is not edited, so it is added after the correction.
 */
import { InputError } from "../../shared/errors.ts";
import type { Matrix } from "../../shared/formats/matrix.ts";
import type { Gemm } from "../blas/gemm.ts";

/** Per corrected block, its basis V [D, k] (row-major, orthonormal columns). */
export interface MlpCorrection {
  layers: { layer: number; basis: Matrix }[];
}

/** The correction as the engines use it: block → V [D, k]; checked against the model's shape. */
export function correctionByLayer(
  correction: MlpCorrection | null,
  shape: { numLayers: number; hiddenSize: number },
): Map<number, Matrix> {
  const out = new Map<number, Matrix>();
  for (const { layer, basis } of correction?.layers ?? []) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= shape.numLayers || out.has(layer)) {
      throw new InputError(
        `Cannot correct block ${layer} as corrected blocks must be distinct and in [0, ${shape.numLayers})`,
      );
    }
    if (basis.rows !== shape.hiddenSize || basis.cols < 1 || basis.data.length !== basis.rows * basis.cols) {
      throw new InputError(
        `Cannot correct block ${layer} as its basis must be [${shape.hiddenSize}, k ≥ 1]: it is [${basis.rows}, ${basis.cols}]`,
      );
    }
    out.set(layer, basis);
  }
  return out;
}

/** y [R, D] ← y − (y V) Vᵀ, in place (two thin products; `z` [R, k] is scratch). */
export function applyCorrection(gemm: Gemm, y: Float32Array, rows: number, basis: Matrix): void {
  const { rows: D, cols: k } = basis;
  const z = new Float32Array(rows * k);
  gemm.sgemm({
    transA: false,
    transB: false,
    m: rows,
    n: k,
    k: D,
    a: y,
    lda: D,
    b: basis.data,
    ldb: k,
    c: z,
    ldc: k,
  });
  gemm.sgemm({
    transA: false,
    transB: true,
    m: rows,
    n: D,
    k,
    a: z,
    lda: k,
    b: basis.data,
    ldb: k,
    alpha: -1,
    beta: 1,
    c: y,
    ldc: D,
  });
}
