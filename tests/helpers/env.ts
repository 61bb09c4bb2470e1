/**
 * What the test environment offers, decided once per test module: a WebGPU adapter (lavapipe in CI), a
 * Postgres server (`TEST_DATABASE_URL`, always set by .ci/run) and OpenBLAS (libopenblas0-pthread in CI). Tests that need one are `ignore`d with a
 * visible message when it is missing, never silently passed.
 */
import { type Gemm, openGemm } from "../../gpu-worker/blas/gemm.ts";
import { silentLogger } from "../../shared/log.ts";

export const gpuAdapter: GPUAdapter | null = await navigator.gpu?.requestAdapter() ?? null;
export const blasGemm: Gemm = openGemm({ logger: silentLogger });
export const testDatabaseUrl: string | undefined = Deno.env.get("TEST_DATABASE_URL") || undefined;

const warned = new Set<string>();
function warnOnce(message: string) {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(`%c[skip] ${message}`, "color: yellow");
}

/** `ignore` value for tests that need a WebGPU adapter. */
export function noGpu(): boolean {
  if (gpuAdapter) return false;
  warnOnce("no WebGPU adapter: install mesa-vulkan-drivers (lavapipe) to run the GPU tests");
  return true;
}

/** `ignore` value for tests that need a Postgres server. */
export function noPostgres(): boolean {
  if (testDatabaseUrl) return false;
  warnOnce("TEST_DATABASE_URL is unset: Postgres-server tests skipped (PGlite tests still run)");
  return true;
}

/** `ignore` value for tests that need OpenBLAS (libopenblas0-pthread in CI) rather than the TypeScript twin. */
export function noBlas(): boolean {
  if (blasGemm.name.startsWith("openblas")) return false;
  warnOnce("OpenBLAS not found: install libopenblas0-pthread to run the BLAS tests");
  return true;
}
