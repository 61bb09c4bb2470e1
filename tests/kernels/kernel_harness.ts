/**
 * Shared helpers for kernel tests: one device per test module, seeded random matrices, and a runner that
 * uploads inputs, records one kernel, submits and reads the output back.
 */
import { gpuAdapter } from "../helpers/env.ts";
import { acquireGpu, type ComputeBatch, type Gpu } from "../../gpu-worker/runtime/mod.ts";

let shared: Promise<Gpu | null> | null = null;

/** One device per test module (creating a device on lavapipe takes tens of milliseconds). */
export function testGpu(): Promise<Gpu> {
  shared ??= gpuAdapter ? acquireGpu({ adapter: gpuAdapter }) : Promise.resolve(null);
  return shared.then((gpu) => {
    if (!gpu) throw new Error("no WebGPU adapter (the test should have been ignored)");
    return gpu;
  });
}

/** Deterministic uniform values in [-1, 1) (mulberry32). */
export function randomArray(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Uploads `inputs`, allocates `outputs` (f32 lengths, or arrays to upload as initial contents), runs `record`,
 * and returns the outputs read back. Buffers go back to the pool afterwards. */
export async function runKernel(
  inputs: Record<string, Float32Array>,
  outputs: Record<string, number | Float32Array>,
  record: (gpu: Gpu, batch: ComputeBatch, buffers: Record<string, GPUBuffer>) => Promise<void>,
): Promise<Record<string, Float32Array>> {
  const gpu = await testGpu();
  const buffers: Record<string, GPUBuffer> = {};
  for (const [name, data] of Object.entries(inputs)) buffers[name] = gpu.upload(data, name);
  for (const [name, spec] of Object.entries(outputs)) {
    buffers[name] = typeof spec === "number" ? gpu.storage(spec * 4, name) : gpu.upload(spec, name);
  }
  try {
    const batch = gpu.batch("test");
    await record(gpu, batch, buffers);
    await batch.submit();
    const names = Object.keys(outputs);
    const values = await gpu.read(names.map((name) => {
      const spec = outputs[name];
      return { buffer: buffers[name], length: typeof spec === "number" ? spec : spec.length };
    }));
    return Object.fromEntries(names.map((name, i) => [name, values[i]]));
  } finally {
    gpu.release(...Object.values(buffers));
  }
}
