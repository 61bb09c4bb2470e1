/**
 * Streams a model folder into a new directory with some tensors transformed: same weight files, same headers
 * byte for byte (so the same names, dtypes, shapes, order and metadata), untouched tensors copied in chunks,
 * transformed ones computed in float32 and written back in their own dtype. Memory stays at one transformed
 * tensor (read, converted and edited in reused buffers: a transform may edit its input in place) plus a copy
 * buffer, whatever the model's size.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ModelFolder } from "../../shared/model/folder.ts";
import { INDEX_FILE } from "../../shared/model/folder.ts";
import type { Matrix } from "../../shared/profs/backend.ts";
import { type FloatDType, fromFloat32, isFloatDType, toFloat32 } from "../../shared/safetensors/dtype.ts";
import { createSafetensorsWriter } from "../../shared/safetensors/writer.ts";

/** Reusable buffers, grown to the largest transformed tensor: raw bytes as stored, and float32 values. */
class Scratch {
  #bytes = new ArrayBuffer(0);
  #floats = new ArrayBuffer(0);
  bytes(size: number): Uint8Array {
    if (this.#bytes.byteLength < size) this.#bytes = new ArrayBuffer(size);
    return new Uint8Array(this.#bytes, 0, size);
  }
  floats(count: number): Float32Array {
    if (this.#floats.byteLength < count * 4) this.#floats = new ArrayBuffer(count * 4);
    return new Float32Array(this.#floats, 0, count);
  }
}

/** F32 bytes viewed in place (the scratch buffer is 4-byte aligned); F16/BF16 converted into float scratch. */
function float32View(bytes: Uint8Array, dtype: FloatDType, scratch: Scratch): Float32Array {
  if (dtype === "F32") return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return toFloat32(bytes, dtype, scratch.floats(bytes.byteLength / 2));
}

/** Small files of a Hugging Face folder that travel with the weights (README.md is replaced by a model card). */
export const COPIED_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
  INDEX_FILE,
];

const COPY_CHUNK_BYTES = 16 << 20;

/** A tensor's new value from its current one, both as 2-D float32 matrices of the stored shape. */
export type TensorTransform = (weight: Matrix) => Promise<Matrix>; // may edit weight.data in place and return it

export interface WriteModelHooks {
  /** After each tensor (transformed or copied). */
  onTensor?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface WrittenModel {
  /** sha256 over the input weight files (read anyway while copying). */
  inputSha256: string;
  /** sha256 over the written weight files, in the same order. */
  outputSha256: string;
}

export async function writeModelFolder(
  model: ModelFolder,
  outDir: string,
  transforms: Map<string, TensorTransform>,
  hooks: WriteModelHooks = {},
): Promise<WrittenModel> {
  for (const name of transforms.keys()) {
    const info = model.tensorInfo(name);
    if (info.name !== name) {
      throw new Error(`transforms must use stored names: '${name}' is stored as '${info.name}'`);
    }
    if (info.shape.length !== 2 || !isFloatDType(info.dtype)) {
      throw new Error(`only float matrices can be transformed: '${name}' is ${info.dtype} [${info.shape}]`);
    }
  }
  await Deno.mkdir(outDir, { recursive: true });
  for (const file of COPIED_FILES) {
    try {
      await Deno.copyFile(join(model.dir, file), join(outDir, file));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const inputHash = createHash("sha256");
  const outputHash = createHash("sha256");
  const total = model.tensorNames().length;
  let done = 0;
  const copyBuffer = new Uint8Array(COPY_CHUNK_BYTES); // reused: 1 GB of copies must not become 1 GB of garbage
  const scratch = new Scratch(); // likewise for the transformed tensors: read, converted and edited in place
  for (const file of model.weightFiles) {
    const reader = model.reader(file);
    const writer = await createSafetensorsWriter(join(outDir, file), {
      json: reader.headerJson,
      tensors: reader.header.tensors,
    });
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(reader.headerJson.byteLength), true);
    for (const hash of [inputHash, outputHash]) hash.update(prefix).update(reader.headerJson);
    try {
      for (const t of reader.header.tensors) {
        hooks.signal?.throwIfAborted();
        const size = t.end - t.begin;
        const transform = transforms.get(t.name);
        if (transform && isFloatDType(t.dtype)) {
          const [rows, cols] = t.shape;
          const original = await reader.readBytes(t.name, undefined, scratch.bytes(size));
          inputHash.update(original);
          const weight = { rows, cols, data: float32View(original, t.dtype, scratch) };
          const result = await transform(weight);
          if (result.rows !== rows || result.cols !== cols) {
            throw new Error(`transform of '${t.name}' changed its shape to ${result.rows}×${result.cols}`);
          }
          const bytes = fromFloat32(result.data, t.dtype, t.dtype === "F32" ? undefined : original);
          outputHash.update(bytes);
          await writer.write(t.name, bytes);
        } else {
          for (let begin = 0; begin < size; begin += COPY_CHUNK_BYTES) {
            const chunk = await reader.readBytes(t.name, {
              begin,
              end: Math.min(size, begin + COPY_CHUNK_BYTES),
            }, copyBuffer);
            inputHash.update(chunk);
            outputHash.update(chunk);
            await writer.write(t.name, chunk);
          }
        }
        hooks.onTensor?.(++done, total);
      }
    } catch (error) {
      await writer.abort();
      throw error;
    }
    await writer.close();
  }
  return { inputSha256: inputHash.digest("hex"), outputSha256: outputHash.digest("hex") };
}
