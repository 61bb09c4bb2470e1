/** kv_write: cache [S, C, W] at (seq[r], pos[r]) ← src [R, W] (shaders/kv_write.wgsl): decode's KV cache. */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface KvWriteShape {
  rows: number;
  width: number;
  capacity: number;
}

/** Writes src [R, W] into cache [S, C, W] in place (and returns it). */
export function kvWriteCpu(
  cache: Float32Array,
  src: Float32Array,
  seq: Uint32Array,
  pos: Uint32Array,
  shape: KvWriteShape,
): Float32Array {
  const { rows, width, capacity } = shape;
  checkDims("kv_write", { rows, width, capacity });
  checkLength("kv_write", "src", src, rows * width);
  for (let r = 0; r < rows; r++) {
    const at = (seq[r] * capacity + pos[r]) * width;
    if (pos[r] >= capacity || at + width > cache.length) {
      throw new RangeError(
        `Cannot write the KV cache as each row must land inside it (pos < ${capacity}): row ${r} has seq ${
          seq[r]
        }, pos ${pos[r]}`,
      );
    }
    cache.set(src.subarray(r * width, (r + 1) * width), at);
  }
  return cache;
}

export async function encodeKvWrite(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { src: GPUBuffer; seq: GPUBuffer; pos: GPUBuffer; cache: GPUBuffer },
  shape: KvWriteShape,
): Promise<void> {
  const { rows, width, capacity } = shape;
  checkDims("kv_write", { rows, width, capacity });
  const pipeline = await gpu.pipeline({ kernel: "kv_write", code: await loadShader("kv_write") });
  const uniform = gpu.uniform(packUniform([["u32", rows], ["u32", width], ["u32", capacity]]));
  const b = buffers;
  const groups = Math.min(Math.ceil((rows * width) / 256), 65535);
  batch.dispatch("kv_write", pipeline, [uniform, b.src, b.seq, b.pos, b.cache], [groups], { ...shape });
}
