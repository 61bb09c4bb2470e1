/// <reference lib="deno.worker" />
/**
 * The body of a model-writing thread (a Web Worker started by write_model.ts): streams the weight files into
 * the output folder — each header verbatim, untouched tensors copied in 16 MB chunks, input and output hashed
 * on the way — and hands every transformed tensor's stored bytes to the calling thread, writing what comes
 * back. Copying and hashing (two sha256 streams over the whole model) run here, on their own core, while the
 * calling thread computes the subspaces the transforms wait on.
 *
 * Messages in: `start` once, then one `transformed` per `transform` request. Out: `transform`, `tensor`
 * (progress), then `done` or `error`. There is no abort message: the caller terminates the thread. The tensor
 * buffer goes back and forth by transfer, so no tensor is ever copied between threads.
 */
import { createHash, type Hash } from "node:crypto";
import { basename, join } from "node:path";
import { openSafetensors } from "../../shared/safetensors/reader.ts";
import { createSafetensorsWriter } from "../../shared/safetensors/writer.ts";

export type WriteRequest =
  | { type: "start"; files: string[]; outDir: string; transformed: string[]; totalTensors: number }
  | { type: "transformed"; buffer: ArrayBuffer };

export type WriteResponse =
  | { type: "transform"; name: string; buffer: ArrayBuffer; byteLength: number }
  | { type: "tensor"; done: number; total: number }
  | {
    type: "done";
    inputSha256: string;
    outputSha256: string;
    fileSha256: Record<string, string>;
    seconds: WriteSeconds;
  }
  | { type: "error"; message: string };

/** Where the thread's time went: reading, hashing, writing, and waiting for the calling thread's transforms. */
export interface WriteSeconds {
  read: number;
  hash: number;
  write: number;
  waiting: number;
}

const COPY_CHUNK_BYTES = 16 << 20;

const post = (message: WriteResponse, transfer: Transferable[] = []) => self.postMessage(message, transfer);

/** Resolves the pending `transform` request with the buffer the caller sent back. */
let answer: ((buffer: ArrayBuffer) => void) | null = null;

self.onmessage = (event: MessageEvent<WriteRequest>) => {
  const message = event.data;
  if (message.type === "transformed") {
    answer?.(message.buffer);
    answer = null;
    return;
  }
  write(message).then(
    (hashes) => post({ type: "done", ...hashes }),
    (error) => post({ type: "error", message: (error as Error).message }),
  );
};

/** Sends `buffer` (holding the tensor's stored bytes) to the caller and waits for it to come back edited. */
function transform(name: string, buffer: ArrayBuffer, byteLength: number): Promise<ArrayBuffer> {
  return new Promise((resolve) => {
    answer = resolve;
    post({ type: "transform", name, buffer, byteLength }, [buffer]);
  });
}

async function write(start: Extract<WriteRequest, { type: "start" }>) {
  const transformed = new Set(start.transformed);
  const inputHash = createHash("sha256");
  // The output equals the input up to the first transformed tensor: one stream hashes both until then, and the
  // output's is forked from it there (Hash.copy), so the bytes before it are hashed once, not twice.
  let outputHash: Hash | null = null;
  const copyBuffer = new Uint8Array(COPY_CHUNK_BYTES); // reused: 1 GB of copies must not become 1 GB of garbage
  let tensorBuffer = new ArrayBuffer(0); // likewise for transformed tensors, grown to the largest
  const fileSha256: Record<string, string> = {};
  const seconds: WriteSeconds = { read: 0, hash: 0, write: 0, waiting: 0 };
  /** Adds the time since `since` to `part`; returns now. */
  const clock = (part: keyof WriteSeconds, since: number) => {
    const now = performance.now();
    seconds[part] += (now - since) / 1000;
    return now;
  };
  let done = 0;
  for (const path of start.files) {
    // One weight file: its hash is the output's. Several: each also gets its own stream (for the blob store).
    const fileHash = start.files.length > 1 ? createHash("sha256") : null;
    const output = (bytes: Uint8Array) => {
      outputHash?.update(bytes);
      fileHash?.update(bytes);
    };
    const reader = await openSafetensors(path);
    try {
      const writer = await createSafetensorsWriter(join(start.outDir, basename(path)), {
        json: reader.headerJson,
        tensors: reader.header.tensors,
      });
      const prefix = new Uint8Array(8);
      new DataView(prefix.buffer).setBigUint64(0, BigInt(reader.headerJson.byteLength), true);
      inputHash.update(prefix).update(reader.headerJson);
      output(prefix);
      output(reader.headerJson);
      try {
        for (const t of reader.header.tensors) {
          const size = t.end - t.begin;
          if (transformed.has(t.name)) {
            outputHash ??= inputHash.copy();
            if (tensorBuffer.byteLength < size) tensorBuffer = new ArrayBuffer(size);
            let at = performance.now();
            const stored = await reader.readBytes(t.name, undefined, new Uint8Array(tensorBuffer, 0, size));
            at = clock("read", at);
            inputHash.update(stored);
            at = clock("hash", at);
            tensorBuffer = await transform(t.name, tensorBuffer, size);
            at = clock("waiting", at);
            const bytes = new Uint8Array(tensorBuffer, 0, size);
            output(bytes);
            at = clock("hash", at);
            await writer.write(t.name, bytes);
            clock("write", at);
          } else {
            for (let begin = 0; begin < size; begin += COPY_CHUNK_BYTES) {
              const range = { begin, end: Math.min(size, begin + COPY_CHUNK_BYTES) };
              let at = performance.now();
              const chunk = await reader.readBytes(t.name, range, copyBuffer);
              at = clock("read", at);
              inputHash.update(chunk);
              output(chunk);
              at = clock("hash", at);
              await writer.write(t.name, chunk);
              clock("write", at);
            }
          }
          post({ type: "tensor", done: ++done, total: start.totalTensors });
        }
      } catch (error) {
        await writer.abort();
        throw error;
      }
      await writer.close();
      if (fileHash) fileSha256[basename(path)] = fileHash.digest("hex");
    } finally {
      await reader.close();
    }
  }
  const inputSha256 = inputHash.digest("hex");
  const outputSha256 = outputHash?.digest("hex") ?? inputSha256;
  if (start.files.length === 1) fileSha256[basename(start.files[0])] = outputSha256;
  return { inputSha256, outputSha256, fileSha256, seconds };
}
