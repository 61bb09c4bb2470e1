/**
 * The WebGPU runtime: real limits, adapter report, pipeline cache keyed by constants, errors re-thrown as
 * KernelError naming the kernel, device loss as DeviceLostError, running out of GPU memory (error scopes, buffer
 * limits) as CapacityError, multi-region readback, buffer reuse.
 */
import assert from "node:assert/strict";
import { gpuAdapter, noGpu } from "../helpers/env.ts";
import { acquireGpu, DeviceLostError, Gpu, KernelError, packUniform } from "../../gpu-worker/runtime/mod.ts";
import { CapacityError } from "../../shared/errors.ts";

const SCALE = /* wgsl */ `
override FACTOR: f32 = 1.0;
struct Shape { n: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < shape.n) { y[id.x] = FACTOR * x[id.x]; }
}`;

async function withGpu(fn: (gpu: Gpu) => Promise<void>) {
  const gpu = (await acquireGpu({ adapter: gpuAdapter! }))!;
  try {
    await fn(gpu);
  } finally {
    if (!gpu.lost) gpu.dispose();
  }
}

Deno.test({
  name: "acquireGpu requests the adapter's real buffer limits and reports the adapter",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      assert.equal(gpu.device.limits.maxBufferSize, gpuAdapter!.limits.maxBufferSize);
      assert.equal(
        gpu.device.limits.maxStorageBufferBindingSize,
        gpuAdapter!.limits.maxStorageBufferBindingSize,
      );
      assert.ok(gpu.adapter.description.length > 0);
      if (gpuAdapter!.info.isFallbackAdapter) assert.equal(gpu.adapter.software, true);
      if (/llvmpipe|lavapipe/i.test(gpuAdapter!.info.description)) assert.equal(gpu.adapter.software, true);
      console.log(`adapter: ${gpu.adapter.description} (software: ${gpu.adapter.software})`);
      await Promise.resolve();
    }),
});

Deno.test({
  name: "pipelines are cached by (kernel, constants) and the constants take effect",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      const twice = gpu.pipeline({ kernel: "scale", code: SCALE, constants: { FACTOR: 2 } });
      assert.equal(gpu.pipeline({ kernel: "scale", code: SCALE, constants: { FACTOR: 2 } }), twice);
      const thrice = gpu.pipeline({ kernel: "scale", code: SCALE, constants: { FACTOR: 3 } });
      assert.notEqual(thrice, twice);
      const n = 70; // not a multiple of the 64-wide workgroup
      const x = gpu.upload(Float32Array.from({ length: n }, (_, i) => i));
      const y2 = gpu.storage(n * 4);
      const y3 = gpu.storage(n * 4);
      const shape = gpu.uniform(packUniform([["u32", n]]));
      await gpu.batch("test")
        .dispatch("scale", await twice, [shape, x, y2], [Math.ceil(n / 64)])
        .dispatch("scale", await thrice, [shape, x, y3], [Math.ceil(n / 64)])
        .submit();
      const [a, b] = await gpu.read([{ buffer: y2, length: n }, { buffer: y3, offset: 5, length: 3 }]);
      assert.deepEqual([...a], Array.from({ length: n }, (_, i) => 2 * i));
      assert.deepEqual([...b], [15, 18, 21]);
    }),
});

Deno.test({
  name: "a WGSL compile error is a KernelError naming the kernel and the line",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      await assert.rejects(
        gpu.pipeline({
          kernel: "broken",
          code: "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }",
        }),
        (error: unknown) =>
          error instanceof KernelError && error.kernel === "broken" &&
          /pipeline creation failed/.test(error.message),
      );
    }),
});

Deno.test({
  name: "a dispatch with a missing binding is a KernelError naming the kernel and its context",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      const pipeline = await gpu.pipeline({ kernel: "scale", code: SCALE });
      const x = gpu.storage(64);
      const batch = gpu.batch("test").dispatch("scale", pipeline, [x], [1], { n: 16 });
      await assert.rejects(
        batch.submit(),
        (error: unknown) =>
          error instanceof KernelError && error.kernel === "scale" && /n=16/.test(error.message),
      );
    }),
});

Deno.test({
  name: "after device loss every call fails with DeviceLostError saying so",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      gpu.device.destroy();
      await gpu.device.lost;
      assert.throws(
        () => gpu.storage(64, "after-loss"),
        (error: unknown) =>
          error instanceof DeviceLostError && error.kernel === "after-loss" &&
          /device was lost/.test(error.message),
      );
      assert.throws(() => gpu.pipeline({ kernel: "scale", code: SCALE }), DeviceLostError);
    }),
});

Deno.test({
  name: "released buffers are reused for the same size and usage, and trim destroys idle ones",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      const a = gpu.storage(100);
      assert.equal(a.size, 112); // rounded up to 16 bytes so it binds as array<vec4<f32>>
      gpu.release(a);
      assert.equal(gpu.storage(100), a);
      assert.notEqual(gpu.storage(100), a);
      gpu.release(a);
      assert.equal(gpu.buffers.idleCount, 1);
      gpu.buffers.trim();
      assert.equal(gpu.buffers.idleCount, 0);
      assert.throws(() => gpu.release(a), /not acquired from this pool/);
      await Promise.resolve();
    }),
});

Deno.test({
  name: "reusing a kernel name for different WGSL and reading past a buffer's end are KernelErrors",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      await gpu.pipeline({ kernel: "scale", code: SCALE });
      await assert.rejects(
        gpu.pipeline({ kernel: "scale", code: SCALE.replace("FACTOR * x", "x") }),
        (error: unknown) => error instanceof KernelError && /same WGSL/.test(error.message),
      );
      const buffer = gpu.storage(64, "small");
      await assert.rejects(
        gpu.read([{ buffer, offset: 10, length: 8 }]),
        (error: unknown) =>
          error instanceof KernelError && /past the end/.test(error.message) && /small/.test(error.message),
      );
      assert.deepEqual(await gpu.read([]), []);
      // The device still works after both errors.
      const x = gpu.upload(Float32Array.of(1, 2, 3));
      assert.deepEqual([...(await gpu.read([{ buffer: x, length: 3 }]))[0]], [1, 2, 3]);
    }),
});

Deno.test({
  name: "a buffer past the adapter's limit is a CapacityError (device_buffer) naming the size and the limit",
  ignore: noGpu(),
  fn: () =>
    withGpu(async (gpu) => {
      const max = Math.min(gpu.adapter.limits.maxBufferSize, gpu.adapter.limits.maxStorageBufferBindingSize);
      assert.throws(
        () => gpu.storage(max + 16, "activations"),
        (error: unknown) =>
          error instanceof CapacityError && error.resource === "device_buffer" &&
          error.message.includes(`${max + 16} bytes for 'activations'`) &&
          error.message.includes(`at most ${max} bytes`),
      );
      // Allocations within the limit pass their out-of-memory scopes: the next read reports nothing.
      const x = gpu.upload(Float32Array.of(4, 5));
      assert.deepEqual([...(await gpu.read([{ buffer: x, length: 2 }]))[0]], [4, 5]);
    }),
});

Deno.test("out-of-memory error scopes (a buffer allocation, a submission) fail as CapacityErrors, by scope, not by text", async () => {
  // A device whose allocations of 1 MiB or more land in the out-of-memory scope, as a full GPU reports them.
  const scopes: { filter: GPUErrorFilter; error: GPUError | null }[] = [];
  const device = {
    lost: new Promise<GPUDeviceLostInfo>(() => {}),
    pushErrorScope: (filter: GPUErrorFilter) => scopes.push({ filter, error: null }),
    popErrorScope: () => Promise.resolve(scopes.pop()!.error),
    createBuffer: ({ size, usage, label }: GPUBufferDescriptor) => {
      const top = scopes.at(-1);
      if (size >= 2 ** 20 && top?.filter === "out-of-memory") {
        top.error = { message: "Not enough memory left" } as GPUError;
      }
      return { size, usage, label, destroy() {} } as unknown as GPUBuffer;
    },
    createCommandEncoder: () => ({ finish: () => ({}) }),
    // A submission that runs out of memory: its error lands in the out-of-memory scope around it.
    queue: {
      submit: () => {
        const scope = scopes.findLast((s) => s.filter === "out-of-memory");
        if (scope) scope.error = { message: "Out of memory in submission" } as GPUError;
      },
    },
  } as unknown as GPUDevice;
  const limits = {
    maxBufferSize: 2 ** 30,
    maxStorageBufferBindingSize: 2 ** 30,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupsPerDimension: 65535,
  };
  const gpu = new Gpu(device, {
    description: "fake",
    vendor: "",
    architecture: "",
    software: true,
    isFallbackAdapter: true,
    limits,
  });
  gpu.storage(1024, "small");
  await gpu.assertAllocated(); // fits: nothing to report
  gpu.storage(2 ** 20, "activations");
  await assert.rejects(
    gpu.assertAllocated(),
    (error: unknown) =>
      error instanceof CapacityError && error.resource === "device_memory" &&
      /Cannot allocate 1048576 bytes of GPU memory for 'activations' as the device is out of memory \(Not enough memory left\)/
        .test(error.message),
  );
  await gpu.assertAllocated(); // reported once
  await assert.rejects(
    gpu.batch("embed").submit(),
    (error: unknown) =>
      error instanceof CapacityError && error.resource === "device_memory" &&
      /Cannot run embed\(\) as the GPU ran out of memory \(Out of memory in submission\)/.test(error.message),
  );
});
