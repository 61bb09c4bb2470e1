/**
 * WebGPU smoke test: the adapter exists (lavapipe in CI), compiles a WGSL compute shader and returns a known
 * answer. It reports the adapter so a CI log shows which device ran the GPU tests.
 */
import assert from "node:assert/strict";
import { gpuAdapter, noGpu } from "../helpers/env.ts";

// y[i] = x[i] * x[i] + 1 for 1000 elements (not a multiple of the 64-wide workgroup, so the guard matters).
const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&x)) { y[id.x] = x[id.x] * x[id.x] + 1.0; }
}`;

Deno.test({
  name: "a WebGPU adapter runs a WGSL compute shader and returns the known answer",
  ignore: noGpu(),
  async fn() {
    const adapter = gpuAdapter!;
    console.log(
      `adapter: ${
        adapter.info.description || adapter.info.vendor
      } (fallback: ${adapter.info.isFallbackAdapter})`,
    );
    const device = await adapter.requestDevice();
    try {
      const n = 1000;
      const x = Float32Array.from({ length: n }, (_, i) => i - 500); // squares stay exact in f32
      const input = device.createBuffer({
        size: x.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      const output = device.createBuffer({
        size: x.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
      });
      const read = device.createBuffer({
        size: x.byteLength,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(input, 0, x);
      const pipeline = device.createComputePipeline({
        layout: "auto",
        compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: "main" },
      });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: input } }, { binding: 1, resource: { buffer: output } }],
      });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(Math.ceil(n / 64));
      pass.end();
      encoder.copyBufferToBuffer(output, 0, read, 0, x.byteLength);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const y = new Float32Array(read.getMappedRange().slice(0));
      read.unmap();
      for (let i = 0; i < n; i++) assert.equal(y[i], x[i] * x[i] + 1, `y[${i}]`);
    } finally {
      device.destroy();
    }
  },
});
