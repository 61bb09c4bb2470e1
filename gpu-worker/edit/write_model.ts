/**
 * Streams a model folder into a new directory with some tensors transformed: same weight files, same headers
 * byte for byte (so the same names, dtypes, shapes, order and metadata), untouched tensors copied in chunks,
 * transformed ones computed in float32 and written back in their own dtype. Memory stays at one transformed
 * tensor plus a copy buffer, whatever the model's size.
 */
import { createHash, type Hash } from "node:crypto";
import { join } from "node:path";
import type { ModelFolder } from "../../shared/model/folder.ts";
import { INDEX_FILE } from "../../shared/model/folder.ts";
import type { Matrix } from "../../shared/profs/backend.ts";
import { fromFloat32, isFloatDType, toFloat32 } from "../../shared/safetensors/dtype.ts";

/** Small files of a Hugging Face folder that travel with the weights (README.md is replaced by a model card). */
const HASH_CHUNK_BYTES = 8 << 20;

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

/** A tensor's new value from its current one, both as 2-D float32 matrices of the stored shape. */
export type TensorTransform = (weight: Matrix) => Promise<Matrix>;

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
  const chunk = new Uint8Array(HASH_CHUNK_BYTES); // reused: 1 GB of reads must not become 1 GB of garbage
  const total = model.tensorNames().length;
  let done = 0;
  for (const file of model.weightFiles) {
    const reader = model.reader(file);
    const source = join(model.dir, file);
    const target = join(outDir, file);
    const dataStart = 8 + reader.headerJson.byteLength;
    // Untouched bytes are copied by the kernel while this thread hashes the source; only the edited tensors'
    // ranges pass through this process. copyFile also copies the source's mode (maybe read-only): the new file
    // keeps the mode it was created with.
    const created = await Deno.open(target, { write: true, createNew: true });
    const { mode } = await created.stat();
    created.close();
    const copied = Deno.copyFile(source, target);
    await hashFile(inputHash, source, reader.fileSize, chunk).finally(() => copied.catch(() => {}));
    await copied;
    if (mode !== null) await Deno.chmod(target, mode & 0o7777);
    const handle = await Deno.open(target, { read: true, write: true });
    // Writing the copy back to disk takes longer than anything else here: start it now, behind the transforms.
    const copyFlushed = handle.sync();
    try {
      await checkCopy(handle, reader.headerJson, reader.fileSize, target);
      for (const t of reader.header.tensors) {
        hooks.signal?.throwIfAborted();
        const transform = transforms.get(t.name);
        if (transform && isFloatDType(t.dtype)) {
          const original = await reader.readBytes(t.name);
          const [rows, cols] = t.shape;
          const result = await transform({ rows, cols, data: toFloat32(original, t.dtype) });
          if (result.rows !== rows || result.cols !== cols) {
            throw new Error(`transform of '${t.name}' changed its shape to ${result.rows}×${result.cols}`);
          }
          await writeAt(handle, dataStart + t.begin, fromFloat32(result.data, t.dtype));
        }
        hooks.onTensor?.(++done, total);
      }
      // Hashed from the page cache while the copy is still being written back.
      await hashFile(outputHash, target, reader.fileSize, chunk);
      await copyFlushed;
      await handle.sync();
    } finally {
      await copyFlushed.catch(() => {});
      handle.close();
    }
  }
  return { inputSha256: inputHash.digest("hex"), outputSha256: outputHash.digest("hex") };
}

/** The copy has the source's size and header bytes (so the offsets the edited tensors are written at hold). */
async function checkCopy(
  handle: Deno.FsFile,
  headerJson: Uint8Array,
  size: number,
  path: string,
): Promise<void> {
  const copied = (await handle.stat()).size;
  if (copied !== size) throw new Error(`the copy '${path}' has ${copied} bytes; its source has ${size}`);
  const expected = new Uint8Array(8 + headerJson.byteLength);
  new DataView(expected.buffer).setBigUint64(0, BigInt(headerJson.byteLength), true);
  expected.set(headerJson, 8);
  const actual = new Uint8Array(expected.byteLength);
  let done = 0;
  while (done < actual.byteLength) {
    const n = await handle.read(actual.subarray(done));
    if (n === null) break;
    done += n;
  }
  if (done !== actual.byteLength || actual.some((byte, i) => byte !== expected[i])) {
    throw new Error(`the copied header of '${path}' differs from its source`);
  }
}

async function writeAt(handle: Deno.FsFile, position: number, bytes: Uint8Array): Promise<void> {
  await handle.seek(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < bytes.byteLength) done += await handle.write(bytes.subarray(done));
}

/** Feeds a whole file of `size` bytes to `hash`. */
async function hashFile(hash: Hash, path: string, size: number, chunk: Uint8Array): Promise<void> {
  const file = await Deno.open(path);
  try {
    let position = 0;
    while (position < size) {
      const n = await file.read(chunk.subarray(0, Math.min(chunk.byteLength, size - position)));
      if (n === null) throw new Error(`'${path}' ended at ${position} bytes; expected ${size}`);
      hash.update(chunk.subarray(0, n));
      position += n;
    }
  } finally {
    file.close();
  }
}
