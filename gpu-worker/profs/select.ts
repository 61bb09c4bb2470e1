/**
 * Picks the compute backend for ProFS's stages and the forward pass: `cpu` (always available; OpenBLAS when the
 * system has it), `webgpu` (needs an adapter), or `auto`: webgpu on a hardware adapter, cpu otherwise — a
 * software adapter (lavapipe/llvmpipe, SwiftShader, WARP) runs the kernels on the CPU, much slower than BLAS.
 * The choice comes with a one-line reason, which the edit logs and records in report.json.
 */
import { InputError } from "../../shared/errors.ts";
import type { ProfsBackend } from "./backend.ts";
import { openGemm } from "../blas/gemm.ts";
import type { AdapterReport } from "../runtime/gpu.ts";

export type { BackendName } from "../runtime/backends.ts";
import type { BackendName } from "../runtime/backends.ts";

export function parseBackendName(value: string): BackendName {
  if (value === "auto" || value === "cpu" || value === "webgpu") return value;
  throw new InputError(
    `Cannot select a backend as '--backend' must be auto, cpu or webgpu: current value is '${value}'`,
  );
}

export interface BackendDecision {
  name: "cpu" | "webgpu";
  /** Why, in one line: what was asked for and which adapter (if any) was found. */
  reason: string;
  /** The adapter webgpu will run on. */
  adapter?: GPUAdapter;
}

/** How the adapter is found; tests pass a fake one instead of patching `navigator.gpu`. */
export interface AdapterProbe {
  requestAdapter?: () => Promise<GPUAdapter | null>;
}

const requestDefaultAdapter = async () =>
  await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" }) ?? null;

/** Decides the backend without opening it: `--backend cpu|webgpu` as asked, `auto` by the adapter's kind. */
export async function decideBackend(name: BackendName, probe: AdapterProbe = {}): Promise<BackendDecision> {
  const cpuProducts = () => `CPU products on ${openGemm().name}`;
  if (name === "cpu") return { name: "cpu", reason: `--backend cpu (${cpuProducts()})` };
  const adapter = await (probe.requestAdapter ?? requestDefaultAdapter)();
  const report: AdapterReport | null = adapter
    ? (await import("../runtime/gpu.ts")).describeAdapter(adapter)
    : null;
  if (name === "webgpu") {
    if (!adapter || !report) {
      throw new InputError(
        "Cannot use '--backend webgpu' as no WebGPU adapter was found (install mesa-vulkan-drivers for a software one)",
      );
    }
    const kind = report.software ? "software" : "hardware";
    return {
      name: "webgpu",
      reason: `--backend webgpu on the ${kind} adapter ${report.description}`,
      adapter,
    };
  }
  if (!adapter || !report) return { name: "cpu", reason: `auto: no WebGPU adapter, ${cpuProducts()}` };
  if (report.software) {
    return {
      name: "cpu",
      reason:
        `auto: the only WebGPU adapter, ${report.description}, is a software one (slower than the CPU backend), ${cpuProducts()}`,
    };
  }
  return { name: "webgpu", reason: `auto: hardware WebGPU adapter ${report.description}`, adapter };
}

/** Decides and opens the ProFS backend. */
export async function openBackend(
  name: BackendName,
  probe: AdapterProbe = {},
): Promise<{ backend: ProfsBackend; decision: BackendDecision }> {
  const decision = await decideBackend(name, probe);
  if (decision.name === "cpu") {
    const { createCpuBackend } = await import("./cpu/backend.ts");
    return { backend: createCpuBackend(), decision };
  }
  const { webGpuBackend } = await import("./webgpu/backend.ts");
  const { acquireGpu } = await import("../runtime/gpu.ts");
  const gpu = await acquireGpu({ adapter: decision.adapter });
  if (!gpu) throw new InputError("Cannot use the WebGPU adapter as it gave no device");
  return { backend: webGpuBackend(gpu), decision };
}

export async function selectBackend(name: BackendName, probe: AdapterProbe = {}): Promise<ProfsBackend> {
  return (await openBackend(name, probe)).backend;
}
