/** The WebGPU runtime: device acquisition, pipelines, buffers, batches, readbacks, errors. */
export { acquireGpu, ComputeBatch, describeAdapter, Gpu, STORAGE_USAGE } from "./gpu.ts";
export type { AdapterReport, KernelSpec, ReadRegion } from "./gpu.ts";
export { BufferPool, roundUp } from "./buffer_pool.ts";
export { DeviceLostError, KernelError } from "./errors.ts";
export { loadShader } from "./shader_source.ts";
export { packUniform } from "./uniform.ts";
