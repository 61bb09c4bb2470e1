/**
 * The WebGPU runtime every kernel wrapper uses: one `Gpu` per device, holding the pipeline cache, the buffer pool
 * and the uniform cache. Pipeline creation and every submitted batch run inside error scopes and fail as a
 * `KernelError` naming the kernel; a lost device fails every later call with a `DeviceLostError`. Running out of
 * GPU memory is typed where it is seen: a buffer allocation caught by its out-of-memory error scope fails the next
 * submission or read, and an out-of-memory scope around a submission fails it, as a `CapacityError`; so does a
 * buffer larger than the adapter allows.
 *
 * Readbacks cost one GPU round trip each (about 11 ms in Deno 2.9 even for 16 bytes, measured on lavapipe), so
 * callers record many dispatches into one `ComputeBatch`, submit once, and read back several small regions with
 * one `read` call.
 */
import { BufferPool, roundUp } from "./buffer_pool.ts";
import { CapacityError } from "../../shared/errors.ts";
import { DeviceLostError, KernelError } from "./errors.ts";

export interface AdapterReport {
  description: string;
  vendor: string;
  architecture: string;
  /** The adapter says it is a fallback, or its name is a known CPU rasteriser (lavapipe/llvmpipe, SwiftShader, WARP). */
  software: boolean;
  isFallbackAdapter: boolean;
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupsPerDimension: number;
  };
}

/** A compute kernel to build: WGSL text, entry point and override constants (the pipeline cache key). */
export interface KernelSpec {
  kernel: string;
  code: string;
  entryPoint?: string;
  constants?: Record<string, number>;
}

/** One region of a buffer to read back, in f32 elements. */
export interface ReadRegion {
  buffer: GPUBuffer;
  /** First f32 element (default 0). */
  offset?: number;
  /** Number of f32 elements. */
  length: number;
}

const REQUESTED_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|warp|software/i;

/** Storage buffers: bindable, uploadable, readable. */
export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * Requests an adapter and a device with the adapter's real limits (the defaults cap storage bindings at 128 MiB
 * and buffers at 256 MiB, too small for large weight matrices). Null when there is no adapter.
 */
export async function acquireGpu(
  options: { powerPreference?: GPUPowerPreference; adapter?: GPUAdapter } = {},
): Promise<Gpu | null> {
  const adapter = options.adapter ??
    await navigator.gpu?.requestAdapter({ powerPreference: options.powerPreference ?? "high-performance" });
  if (!adapter) return null;
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits });
  return new Gpu(device, describeAdapter(adapter));
}

export function describeAdapter(adapter: GPUAdapter): AdapterReport {
  const info = adapter.info;
  const description = info.description || info.device || info.vendor || "unknown adapter";
  return {
    description,
    vendor: info.vendor,
    architecture: info.architecture,
    isFallbackAdapter: info.isFallbackAdapter ?? false,
    software: (info.isFallbackAdapter ?? false) || SOFTWARE_NAMES.test(description),
    limits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: adapter.limits.maxComputeWorkgroupsPerDimension,
    },
  };
}

export class Gpu {
  readonly buffers: BufferPool;
  readonly #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  readonly #modules = new Map<string, { code: string; module: GPUShaderModule }>();
  readonly #uniforms = new Map<string, GPUBuffer>();
  #lost: GPUDeviceLostInfo | null = null;
  /** Out-of-memory error scopes of buffer allocations not yet looked at (popped asynchronously). */
  #allocations: Promise<{ label: string; bytes: number; error: GPUError | null }>[] = [];

  constructor(readonly device: GPUDevice, readonly adapter: AdapterReport) {
    this.buffers = new BufferPool(device);
    device.lost.then((info) => {
      this.#lost = info;
    });
  }

  get lost(): boolean {
    return this.#lost !== null;
  }

  /** Throws a `DeviceLostError` naming `kernel` when the device is gone. */
  assertAlive(kernel: string): void {
    if (this.#lost) throw new DeviceLostError(kernel, this.#lost.reason ?? "", this.#lost.message);
  }

  /** The compiled pipeline for (kernel, entry point, constants), built once inside error scopes. */
  pipeline(spec: KernelSpec): Promise<GPUComputePipeline> {
    this.assertAlive(spec.kernel);
    const entryPoint = spec.entryPoint ?? "main";
    const constants = spec.constants ?? {};
    const key = `${spec.kernel}#${entryPoint}#${
      Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(",")
    }`;
    const module = this.#modules.get(spec.kernel);
    if (module && module.code !== spec.code) {
      return Promise.reject(
        new KernelError(
          spec.kernel,
          "Cannot build a pipeline as a kernel name must always carry the same WGSL",
        ),
      );
    }
    let pipeline = this.#pipelines.get(key);
    if (!pipeline) {
      pipeline = this.#buildPipeline(spec, entryPoint, constants);
      this.#pipelines.set(key, pipeline);
      pipeline.catch(() => this.#pipelines.delete(key));
    }
    return pipeline;
  }

  async #buildPipeline(
    spec: KernelSpec,
    entryPoint: string,
    constants: Record<string, number>,
  ): Promise<GPUComputePipeline> {
    const device = this.device;
    const cached = this.#modules.get(spec.kernel);
    if (cached && cached.code !== spec.code) {
      throw new KernelError(
        spec.kernel,
        "Cannot build a pipeline as a kernel name must always carry the same WGSL",
      );
    }
    device.pushErrorScope("internal");
    device.pushErrorScope("validation");
    const module = cached?.module ?? device.createShaderModule({ code: spec.code, label: spec.kernel });
    this.#modules.set(spec.kernel, { code: spec.code, module });
    const pipeline = device.createComputePipeline({
      label: spec.kernel,
      layout: "auto",
      compute: { module, entryPoint, constants },
    });
    const validation = await device.popErrorScope();
    const internal = await device.popErrorScope();
    const error = validation ?? internal;
    if (error) {
      this.#modules.delete(spec.kernel);
      const info = await module.getCompilationInfo();
      const messages = info.messages
        .filter((m) => m.type === "error")
        .map((m) => `line ${m.lineNum}:${m.linePos} ${m.message}`);
      throw new KernelError(
        spec.kernel,
        `pipeline creation failed: ${messages.length ? messages.join("; ") : error.message}`,
        { entryPoint, constants },
      );
    }
    this.assertAlive(spec.kernel);
    return pipeline;
  }

  /** A pooled storage buffer of at least `bytes` bytes (contents unspecified until written). */
  storage(bytes: number, label = "storage"): GPUBuffer {
    this.assertAlive(label);
    this.#checkSize(label, bytes);
    this.device.pushErrorScope("out-of-memory");
    const buffer = this.buffers.acquire(bytes, STORAGE_USAGE, label);
    this.#allocations.push(this.device.popErrorScope().then((error) => ({ label, bytes, error })));
    return buffer;
  }

  /**
   * Throws a `CapacityError` when a buffer allocated since the last look failed for lack of GPU memory (its
   * out-of-memory scope caught an error); submissions and reads call it, so the failure surfaces where the
   * buffer would first be used.
   */
  async assertAllocated(): Promise<void> {
    if (this.#allocations.length === 0) return;
    const pending = this.#allocations;
    this.#allocations = [];
    for (const allocation of await Promise.all(pending)) {
      if (allocation.error) {
        throw new CapacityError(
          "device_memory",
          `Cannot allocate ${allocation.bytes} bytes of GPU memory for '${allocation.label}' as the device ` +
            `is out of memory (${allocation.error.message}): use fewer or shorter texts, fewer pairs, or a GPU ` +
            `with more memory`,
        );
      }
    }
  }

  /** A pooled storage buffer holding `data`. */
  upload(data: Float32Array | Uint32Array | Int32Array, label = "upload"): GPUBuffer {
    const buffer = this.storage(data.byteLength, label);
    this.device.queue.writeBuffer(buffer, 0, data as ArrayBufferView<ArrayBuffer>);
    return buffer;
  }

  /** Overwrites the start of `buffer` (`byteOffset` bytes in) with `data`, in queue order. */
  write(buffer: GPUBuffer, data: Float32Array | Uint32Array | Int32Array, byteOffset = 0): void {
    this.assertAlive(buffer.label || "write");
    // Typed arrays over a SharedArrayBuffer are accepted by writeBuffer too; the DOM typings are narrower.
    this.device.queue.writeBuffer(buffer, byteOffset, data as ArrayBufferView<ArrayBuffer>);
  }

  /** Returns pooled buffers for reuse; they must not be used afterwards. */
  release(...buffers: GPUBuffer[]): void {
    for (const buffer of buffers) this.buffers.release(buffer);
  }

  /**
   * A uniform buffer holding `bytes` (a kernel's shape struct), shared by every dispatch with the same bytes.
   * Shapes repeat (same layer shapes, same iteration), so this is a small cache rather than one buffer per call.
   */
  uniform(bytes: ArrayBuffer): GPUBuffer {
    this.assertAlive("uniform");
    const key = Array.from(new Uint32Array(bytes)).join(",");
    let buffer = this.#uniforms.get(key);
    if (!buffer) {
      if (this.#uniforms.size >= 4096) {
        // Destroying is safe for in-flight work: WebGPU frees the memory after submitted commands complete.
        for (const old of this.#uniforms.values()) old.destroy();
        this.#uniforms.clear();
      }
      buffer = this.device.createBuffer({
        size: roundUp(Math.max(bytes.byteLength, 16), 16),
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: "uniform",
      });
      this.device.queue.writeBuffer(buffer, 0, bytes);
      this.#uniforms.set(key, buffer);
    }
    return buffer;
  }

  /** Starts recording dispatches and copies for one submission. */
  batch(label = "batch"): ComputeBatch {
    this.assertAlive(label);
    return new ComputeBatch(this, label);
  }

  /**
   * Reads several small regions back in one round trip (after all previously submitted work). Each region is
   * copied into one staging buffer, mapped once.
   */
  async read(regions: ReadRegion[], label = "read"): Promise<Float32Array[]> {
    this.assertAlive(label);
    await this.assertAllocated();
    if (regions.length === 0) return [];
    const offsets: number[] = [];
    let total = 0;
    for (const region of regions) {
      const from = (region.offset ?? 0) * 4;
      if (from + region.length * 4 > region.buffer.size) {
        throw new KernelError(label, "Cannot read past the end of a buffer", {
          buffer: region.buffer.label,
          size: region.buffer.size,
          from,
          bytes: region.length * 4,
        });
      }
      offsets.push(total);
      total += region.length * 4;
    }
    const staging = this.buffers.acquire(total, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, "staging");
    const device = this.device;
    device.pushErrorScope("validation");
    const encoder = device.createCommandEncoder({ label });
    regions.forEach((region, i) => {
      const bytes = region.length * 4;
      if (bytes > 0) {
        encoder.copyBufferToBuffer(region.buffer, (region.offset ?? 0) * 4, staging, offsets[i], bytes);
      }
    });
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) {
      this.buffers.release(staging);
      throw new KernelError(label, `readback failed: ${error.message}`);
    }
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, total);
    } catch (cause) {
      this.assertAlive(label);
      throw new KernelError(label, `mapping the readback buffer failed: ${String(cause)}`, {}, { cause });
    }
    const mapped = new Float32Array(staging.getMappedRange(0, total));
    const out = regions.map((region, i) => mapped.slice(offsets[i] / 4, offsets[i] / 4 + region.length));
    staging.unmap();
    this.buffers.release(staging);
    return out;
  }

  /** Waits for all submitted work (benchmarks; normal code waits through `read`). */
  async finish(label = "finish"): Promise<void> {
    this.assertAlive(label);
    await this.device.queue.onSubmittedWorkDone();
    this.assertAlive(label);
  }

  #checkSize(label: string, bytes: number): void {
    const max = Math.min(this.adapter.limits.maxBufferSize, this.adapter.limits.maxStorageBufferBindingSize);
    if (bytes > max) {
      throw new CapacityError(
        "device_buffer",
        `Cannot allocate ${bytes} bytes for '${label}' as one GPU storage buffer must be at most ${max} bytes ` +
          `(the adapter's limit): use fewer or shorter texts, or a GPU with larger buffers`,
      );
    }
  }

  dispose(): void {
    this.buffers.destroyAll();
    for (const buffer of this.#uniforms.values()) buffer.destroy();
    this.#uniforms.clear();
    this.#pipelines.clear();
    this.#modules.clear();
    this.device.destroy();
  }
}

/**
 * Dispatches and copies recorded into one command encoder and submitted once. Consecutive dispatches share one
 * compute pass (WebGPU orders their storage accesses); a copy closes the pass. Bind-group creation and the
 * submission run in error scopes; `submit` rethrows the first error as a `KernelError` naming the kernels.
 */
export class ComputeBatch {
  readonly #encoder: GPUCommandEncoder;
  #pass: GPUComputePassEncoder | null = null;
  readonly #kernels: string[] = [];
  readonly #bindErrors: Promise<
    { kernel: string; context: Record<string, unknown>; error: GPUError | null }
  >[] = [];
  #submitted = false;

  constructor(private readonly gpu: Gpu, readonly label: string) {
    this.#encoder = gpu.device.createCommandEncoder({ label });
  }

  /**
   * Records one dispatch; `buffers[i]` is bound at @binding(i) of group 0. `context` (shapes, constants) is
   * attached to any error.
   */
  dispatch(
    kernel: string,
    pipeline: GPUComputePipeline,
    buffers: GPUBuffer[],
    workgroups: [number, number?, number?],
    context: Record<string, unknown> = {},
  ): this {
    this.#assertOpen(kernel);
    const max = this.gpu.adapter.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = workgroups;
    if (x > max || y > max || z > max) {
      throw new KernelError(kernel, `Cannot dispatch as each workgroup count must be ≤ ${max}`, {
        workgroups: [x, y, z],
        ...context,
      });
    }
    if (x === 0 || y === 0 || z === 0) return this;
    const device = this.gpu.device;
    device.pushErrorScope("validation");
    const bindGroup = device.createBindGroup({
      label: kernel,
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    this.#bindErrors.push(device.popErrorScope().then((error) => ({ kernel, context, error })));
    this.#pass ??= this.#encoder.beginComputePass({ label: this.label });
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, bindGroup);
    this.#pass.dispatchWorkgroups(x, y, z);
    this.#kernels.push(kernel);
    return this;
  }

  /** Copies `bytes` bytes between buffers, in order with the dispatches around it. */
  copy(source: GPUBuffer, target: GPUBuffer, bytes: number, sourceOffset = 0, targetOffset = 0): this {
    this.#assertOpen("copy");
    this.#endPass();
    if (bytes > 0) this.#encoder.copyBufferToBuffer(source, sourceOffset, target, targetOffset, bytes);
    return this;
  }

  async submit(): Promise<void> {
    this.#assertOpen(this.label);
    this.#submitted = true;
    this.#endPass();
    const device = this.gpu.device;
    device.pushErrorScope("internal");
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    device.queue.submit([this.#encoder.finish()]);
    const [validation, outOfMemory, internal] = [
      await device.popErrorScope(),
      await device.popErrorScope(),
      await device.popErrorScope(),
    ];
    await this.gpu.assertAllocated();
    const kernels = `${this.label}(${[...new Set(this.#kernels)].join(", ")})`;
    if (outOfMemory) {
      throw new CapacityError(
        "device_memory",
        `Cannot run ${kernels} as the GPU ran out of memory (${outOfMemory.message}): use fewer or shorter ` +
          `texts, fewer pairs, or a GPU with more memory`,
      );
    }
    for (const bind of await Promise.all(this.#bindErrors)) {
      if (bind.error) {
        throw new KernelError(bind.kernel, `binding failed: ${bind.error.message}`, bind.context);
      }
    }
    const error = validation ?? internal;
    if (error) {
      throw new KernelError(kernels, `dispatch failed: ${error.message}`);
    }
    this.gpu.assertAlive(this.label);
  }

  #assertOpen(kernel: string): void {
    this.gpu.assertAlive(kernel);
    if (this.#submitted) {
      throw new KernelError(kernel, "Cannot record into a batch that was already submitted");
    }
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = null;
  }
}
