/**
 * The CPU ProFS backend: plain TypeScript, float64 accumulation. Always available; the oracle for `webgpu`.
 */
import type { ProfsBackend } from "./backend.ts";
import { projectOut } from "./projection.ts";
import { toxicSubspaceCpu } from "./subspace.ts";

export function createCpuBackend(): ProfsBackend {
  return {
    name: "cpu",
    toxicSubspace: async (preferred, rejected, params) => await toxicSubspaceCpu(preferred, rejected, params),
    project: async (weight, basis, orientation) => await projectOut(weight, basis, orientation),
    dispose: () => {},
  };
}
