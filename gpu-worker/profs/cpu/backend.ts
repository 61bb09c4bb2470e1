/**
 * The CPU ProFS backend: float64 accumulation, its large products (Gram matrices, T·Q, Tᵀ·Y) on the given
 * `Gemm`'s dgemm (OpenBLAS by default), the rest plain TypeScript. Always available; the oracle for `webgpu`
 * (with `typescriptGemm()`, or `gemm: null` for the original loops).
 */
import { type Gemm, openGemm } from "../../blas/gemm.ts";
import type { ProfsBackend } from "../backend.ts";
import { projectOut, removedPart } from "./projection.ts";
import { toxicSubspaceCpu } from "./subspace.ts";

export function createCpuBackend(options: { gemm?: Gemm | null } = {}): ProfsBackend {
  const gemm = options.gemm === null ? undefined : options.gemm ?? openGemm();
  return {
    name: "cpu",
    toxicSubspace: async (preferred, rejected, params) =>
      await toxicSubspaceCpu(preferred, rejected, { ...params, gemm }),
    // In place: an edit of a large model then needs no second copy of each matrix (the contract allows it).
    project: async (weight, basis, orientation) => await projectOut(weight, basis, orientation, weight.data),
    removedPart: async (weight, basis, orientation) => await removedPart(weight, basis, orientation),
    dispose: () => {},
  };
}
