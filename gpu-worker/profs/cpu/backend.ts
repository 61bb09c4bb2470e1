/**
 * The CPU ProFS backend: plain TypeScript, float64 accumulation. Always available; the oracle for `webgpu`.
 */
import type { ProfsBackend } from "../backend.ts";
import { projectOut } from "./projection.ts";
import { toxicSubspaceCpu } from "./subspace.ts";

export function createCpuBackend(): ProfsBackend {
  return {
    name: "cpu",
    toxicSubspace: async (preferred, rejected, params) => await toxicSubspaceCpu(preferred, rejected, params),
    // In place: an edit of a large model then needs no second copy of each matrix (the contract allows it).
    project: async (weight, basis, orientation) => await projectOut(weight, basis, orientation, weight.data),
    dispose: () => {},
  };
}
