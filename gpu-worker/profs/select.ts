/**
 * Picks the compute backend for ProFS's stages: `cpu` (always available), `webgpu` (needs an adapter), or `auto`
 * (webgpu when an adapter exists, else cpu).
 */
import { InputError } from "../../shared/errors.ts";
import type { ProfsBackend } from "./backend.ts";

export type BackendName = "auto" | "cpu" | "webgpu";

export function parseBackendName(value: string): BackendName {
  if (value === "auto" || value === "cpu" || value === "webgpu") return value;
  throw new InputError(
    `Cannot select a backend as '--backend' must be auto, cpu or webgpu: current value is '${value}'`,
  );
}

export async function selectBackend(name: BackendName): Promise<ProfsBackend> {
  if (name === "cpu") return (await import("./cpu/backend.ts")).createCpuBackend();
  const { createWebGpuBackend } = await import("./webgpu/backend.ts");
  const backend = await createWebGpuBackend();
  if (backend) return backend;
  if (name === "webgpu") {
    throw new InputError(
      "Cannot use '--backend webgpu' as no WebGPU adapter was found (install mesa-vulkan-drivers for a software one)",
    );
  }
  return (await import("./cpu/backend.ts")).createCpuBackend();
}
