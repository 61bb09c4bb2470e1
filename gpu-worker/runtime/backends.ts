/**
 * The names of the compute backends, in one place: `cpu` (plain TypeScript, the kernels' twins) and `webgpu`
 * (the WGSL kernels). Every stage that computes — ProFS, the forward passes, checks — runs on one of them, and
 * the two agree to float32 tolerance.
 */
export const COMPUTE_BACKENDS = ["cpu", "webgpu"] as const;
export type ComputeBackend = typeof COMPUTE_BACKENDS[number];

/** What a user may ask for: a backend, or `auto` (webgpu when an adapter exists, else cpu). */
export type BackendName = "auto" | ComputeBackend;
