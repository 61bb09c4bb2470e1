/**
 * Streams a model folder into a new directory with some tensors transformed: same weight files, same headers
 * byte for byte (so the same names, dtypes, shapes, order and metadata), untouched tensors copied in chunks,
 * transformed ones computed in float32 and written back in their own dtype. Memory stays at one transformed
 * tensor (read, converted and edited in reused buffers: a transform may edit its input in place) plus a copy
 * buffer, whatever the model's size.
 *
 * The copying and the input's hash run in a thread of their own (write_thread.ts), which copies every untouched
 * tensor at once, at its own offset, without waiting for any transform; the output's hash runs in a second
 * thread (hash_thread.ts) that reads the written files back behind the writer's watermark. Transforms run here,
 * on the calling thread, one at a time in storage order. A transform may wait on work still in progress (the
 * edit pipeline computes each layer's subspace meanwhile), so the copy, both hashes and the computing overlap,
 * and a slow transform holds back only the output's hash of what follows its tensor.
 */
import { join } from "node:path";
import type { ModelFolder } from "../../shared/model/folder.ts";
import { INDEX_FILE } from "../../shared/model/folder.ts";
import type { Matrix } from "../profs/backend.ts";
import { type FloatDType, fromFloat32, isFloatDType, toFloat32 } from "../../shared/safetensors/dtype.ts";
import type { WriteRequest, WriteResponse, WriteSeconds } from "./write_thread.ts";
import type { HashResponse, HashSeconds, HashStart } from "./hash_thread.ts";
import { startStreamThreads, type StreamThreads } from "./stream_threads.ts";

/** A reusable float32 buffer, grown to the largest F16/BF16 tensor transformed. */
class Scratch {
  #floats = new ArrayBuffer(0);
  floats(count: number): Float32Array {
    if (this.#floats.byteLength < count * 4) this.#floats = new ArrayBuffer(count * 4);
    return new Float32Array(this.#floats, 0, count);
  }
}

/** F32 bytes viewed in place (the tensor buffer starts 4-byte aligned); F16/BF16 converted into scratch. */
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

/** A tensor's new value from its current one, both as 2-D float32 matrices of the stored shape. */
export type TensorTransform = (weight: Matrix) => Promise<Matrix>; // may edit weight.data in place and return it

export interface WriteModelHooks {
  /** Threads started ahead (`startStreamThreads`), used and ended by this stream; default: started now. */
  threads?: StreamThreads;
  /** After each tensor (transformed or copied). */
  onTensor?: (done: number, total: number) => void;
  /**
   * The input's sha256, as soon as the copy has read every weight file (typically long before the transforms are
   * done): a caller that expects a given model can stop the write then. An exception thrown here fails the write.
   */
  onInputHashed?: (sha256: string) => void;
  /**
   * Weight file `file` (index into `model.weightFiles`) is final below byte `upTo`. The files are not written
   * front to back (untouched tensors are copied ahead of the transformed ones), so a reader that follows one
   * while it is written must stay below this watermark.
   */
  onWritten?: (file: number, upTo: number) => void;
  signal?: AbortSignal;
}

export interface WrittenModel {
  /** sha256 over the input weight files (read anyway while copying). */
  inputSha256: string;
  /** sha256 over the written weight files, in the same order. */
  outputSha256: string;
  /** sha256 of each written weight file by name (the same as outputSha256 for a single file). */
  fileSha256: Record<string, string>;
  /** Where the writing thread's time went. */
  seconds: WriteSeconds;
  /** Where the output-hashing thread's time went. */
  hashSeconds: HashSeconds;
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
  hooks.signal?.throwIfAborted();
  await Deno.mkdir(outDir, { recursive: true });
  for (const file of COPIED_FILES) {
    try {
      await Deno.copyFile(join(model.dir, file), join(outDir, file));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  // An abort during the awaits above fired no listener (none was attached yet): check again before the thread
  // starts, or the stream would wait at the first transformed tensor for a subspace that will never come.
  hooks.signal?.throwIfAborted();
  const { writer: thread, hasher } = hooks.threads ?? startStreamThreads();
  const floats = new Scratch();
  return await new Promise<WrittenModel>((resolve, reject) => {
    let settled = false;
    let written: Extract<WriteResponse, { type: "done" }> | null = null;
    let hashed: Extract<HashResponse, { type: "done" }> | null = null;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      hooks.signal?.removeEventListener("abort", onAbort);
      thread.terminate();
      hasher.terminate();
      finish();
    };
    const fail = (error: unknown) => settle(() => reject(error));
    const finishIfDone = () => {
      if (!written || !hashed) return;
      const [w, h] = [written, hashed];
      settle(() =>
        resolve({
          inputSha256: w.inputSha256,
          outputSha256: h.outputSha256,
          fileSha256: h.fileSha256,
          seconds: w.seconds,
          hashSeconds: h.seconds,
        })
      );
    };
    const onAbort = () => fail(hooks.signal!.reason);
    hooks.signal?.addEventListener("abort", onAbort, { once: true });
    const send = (message: WriteRequest, transfer: Transferable[] = []) =>
      thread.postMessage(message, transfer);
    thread.onmessage = (event: MessageEvent<WriteResponse>) => {
      const message = event.data;
      if (message.type === "tensor") hooks.onTensor?.(message.done, message.total);
      else if (message.type === "written") hooks.onWritten?.(message.file, message.upTo);
      else if (message.type === "input_hashed") {
        try {
          hooks.onInputHashed?.(message.inputSha256);
        } catch (error) {
          fail(error);
        }
      } else if (message.type === "done") {
        written = message;
        finishIfDone();
      } else if (message.type === "error") fail(new Error(message.message));
      else {
        const bytes = new Uint8Array(message.buffer, 0, message.byteLength);
        transformInPlace(model, message.name, bytes, transforms.get(message.name)!, floats).then(
          () => send({ type: "transformed", buffer: message.buffer }, [message.buffer]),
          fail,
        );
      }
    };
    hasher.onmessage = (event: MessageEvent<HashResponse>) => {
      const message = event.data;
      if (message.type === "error") return fail(new Error(message.message));
      hashed = message;
      finishIfDone();
    };
    for (const [worker, what] of [[thread, "model writing"], [hasher, "output hashing"]] as const) {
      worker.onerror = (event) => {
        event.preventDefault();
        fail(new Error(`${what} thread crashed: ${event.message}`));
      };
      // A message that cannot be deserialized would otherwise be dropped, and the stream never settle.
      worker.onmessageerror = () => fail(new Error(`${what} thread sent a message that cannot be read`));
    }
    const files = model.weightFiles.map((file) => join(model.dir, file));
    const channel = new MessageChannel();
    hasher.postMessage(
      {
        type: "start",
        paths: model.weightFiles.map((file) => join(outDir, file)),
        port: channel.port2,
      } satisfies HashStart,
      [channel.port2],
    );
    send({
      type: "start",
      files,
      outDir,
      transformed: [...transforms.keys()],
      totalTensors: model.tensorNames().length,
      hashPort: channel.port1,
    }, [channel.port1]);
  });
}

/** Runs `transform` on a tensor's stored bytes and writes the result back into them, in the stored dtype. */
async function transformInPlace(
  model: ModelFolder,
  name: string,
  bytes: Uint8Array,
  transform: TensorTransform,
  floats: Scratch,
): Promise<void> {
  const info = model.tensorInfo(name);
  const dtype = info.dtype as FloatDType; // checked before the thread started
  const [rows, cols] = info.shape;
  const weight = { rows, cols, data: float32View(bytes, dtype, floats) };
  const result = await transform(weight);
  if (result.rows !== rows || result.cols !== cols) {
    throw new Error(`transform of '${name}' changed its shape to ${result.rows}×${result.cols}`);
  }
  const edited = fromFloat32(result.data, dtype, dtype === "F32" ? undefined : bytes);
  if (edited.buffer !== bytes.buffer || edited.byteOffset !== bytes.byteOffset) bytes.set(edited);
}
