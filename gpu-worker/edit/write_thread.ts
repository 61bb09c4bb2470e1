/// <reference lib="deno.worker" />
/**
 * The body of a model-writing thread (a Web Worker started by write_model.ts). Two streams run here at once:
 *
 * - the copy: every weight file in storage order — the header verbatim, then each tensor in 2 MB chunks, all
 *   of them hashed into the input's sha256 and the untouched ones written at their own offsets in the output —
 *   never waiting for anything, so the model is copied and its input hash known while the calling thread is
 *   still computing the subspaces;
 * - the transforms: the transformed tensors in storage order, one at a time — its stored bytes are read and
 *   handed to the calling thread, and what comes back is written at the tensor's offset.
 *
 * The output's sha256 is the hash thread's (hash_thread.ts): after every write this thread tells it how far each
 * output file is complete (the watermark: everything below it written), and it reads the file back up to there.
 * So each byte is hashed once per stream, the input here and the output there, on their own cores.
 *
 * Messages in: `start` once, then one `transformed` per `transform` request. Out: `transform`, `tensor`
 * (progress), `written` (a file's new watermark), `input_hashed` (once the copy has read everything), then
 * `done` or `error`; to the hash thread (over the port in `start`): `written`. There is no abort message: the caller terminates the thread. The
 * tensor buffer goes back and forth by transfer, so no tensor is ever copied between threads.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { basename, join } from "node:path";
import { openSafetensors, type SafetensorsReader } from "../../shared/safetensors/reader.ts";
import type { HashRequest } from "./hash_thread.ts";
import { HASH_CHUNK_BYTES } from "../../shared/hash_chunk.ts";
import { nextTurn } from "../runtime/next_turn.ts";

export type WriteRequest =
  | {
    type: "start";
    files: string[];
    outDir: string;
    transformed: string[];
    totalTensors: number;
    /** To the hash thread: watermarks of the output files. */
    hashPort: MessagePort;
  }
  | { type: "transformed"; buffer: ArrayBuffer };

export type WriteResponse =
  | { type: "transform"; name: string; buffer: ArrayBuffer; byteLength: number }
  | { type: "tensor"; done: number; total: number }
  /** Output file `file` (by index) is final below `upTo` (the watermark the hash thread gets too). */
  | { type: "written"; file: number; upTo: number }
  | { type: "input_hashed"; inputSha256: string }
  | { type: "done"; inputSha256: string; seconds: WriteSeconds }
  | { type: "error"; message: string };

/**
 * Where the thread's time went: reading, hashing and writing (the copy and the transforms' reads and writes), and
 * how long the transforms waited for the calling thread after the copy had finished (the subspaces' tail).
 */
export interface WriteSeconds {
  read: number;
  hash: number;
  write: number;
  waiting: number;
}

/** How far the watermark moves between two `written` messages (unless it reaches the file's end). */
const WATERMARK_STEP = 16 << 20;

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
    (result) => post({ type: "done", ...result }),
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

/** One weight file: its reader, its output handle, and which of its byte ranges are written. */
interface OutFile {
  reader: SafetensorsReader;
  /** The input file, read here with blocking reads. */
  input: number;
  /** The output file (created here, must not exist), written with blocking writes. */
  out: number;
  /** Bytes of the output below which the copy has written (or skipped past a transformed tensor). */
  copied: number;
  /** Stored begin offsets (in the file) of its transformed tensors not written yet, ascending. */
  pending: number[];
  /** The last watermark sent to the hash thread. */
  sent: number;
}

async function write(start: Extract<WriteRequest, { type: "start" }>) {
  const transformed = new Set(start.transformed);
  const inputHash = createHash("sha256");
  const seconds: WriteSeconds = { read: 0, hash: 0, write: 0, waiting: 0 };
  /** Adds the time since `since` to `part`; returns now. */
  const clock = (part: keyof WriteSeconds, since: number) => {
    const now = performance.now();
    seconds[part] += (now - since) / 1000;
    return now;
  };
  const port = start.hashPort;
  const files: OutFile[] = [];
  const readers: SafetensorsReader[] = [];
  try {
    for (const path of start.files) {
      const reader = await openSafetensors(path);
      readers.push(reader);
      const input = openSync(path, "r");
      let out: number;
      try {
        out = openSync(join(start.outDir, basename(path)), "wx");
      } catch (error) {
        closeSync(input);
        throw error;
      }
      const dataStart = reader.header.dataStart;
      const pending = reader.header.tensors.filter((t) => transformed.has(t.name)).map((t) =>
        dataStart + t.begin
      );
      files.push({ reader, input, out, copied: 0, pending, sent: 0 });
    }
    port.postMessage({ type: "files", sizes: files.map((f) => f.reader.fileSize) } satisfies HashRequest);

    /**
     * Tells the hash thread (and the caller) how far file `f` is complete, once that moved by WATERMARK_STEP, or
     * stopped at a transformed tensor still to come (its next move waits on the caller), or reached the file's
     * end: a message per 2 MB chunk would wake both threads, and the worker's, 700 times for a 1.4 GB model.
     */
    const advance = (f: OutFile, index: number) => {
      const mark = Math.min(f.copied, f.pending[0] ?? Infinity);
      const worthSaying = mark - f.sent >= WATERMARK_STEP || mark === f.pending[0] ||
        mark === f.reader.fileSize;
      if (mark > f.sent && worthSaying) {
        f.sent = mark;
        port.postMessage({ type: "written", file: index, upTo: mark } satisfies HashRequest);
        post({ type: "written", file: index, upTo: mark });
      }
    };
    let done = 0;
    const progress = () => post({ type: "tensor", done: ++done, total: start.totalTensors });
    let copyFinishedAt: number | null = null; // when the copy had read and written everything

    const copy = async () => {
      const buffer = new Uint8Array(HASH_CHUNK_BYTES); // reused: 1 GB of copies must not become 1 GB of garbage
      let sinceTurn = 0; // bytes copied since the last turn of the event loop
      for (const [index, f] of files.entries()) {
        const { reader, out } = f;
        const prefix = new Uint8Array(8);
        new DataView(prefix.buffer).setBigUint64(0, BigInt(reader.headerJson.byteLength), true);
        inputHash.update(prefix).update(reader.headerJson);
        writeAt(out, prefix, 0);
        writeAt(out, reader.headerJson, 8);
        f.copied = reader.header.dataStart;
        advance(f, index);
        for (const t of reader.header.tensors) {
          const size = t.end - t.begin;
          const keep = !transformed.has(t.name);
          for (let begin = 0; begin < size; begin += HASH_CHUNK_BYTES) {
            const range = { begin, end: Math.min(size, begin + HASH_CHUNK_BYTES) };
            const position = reader.header.dataStart + t.begin + begin;
            let at = performance.now();
            const chunk = readAt(f.input, buffer.subarray(0, range.end - range.begin), position);
            at = clock("read", at);
            inputHash.update(chunk);
            at = clock("hash", at);
            if (keep) {
              writeAt(out, chunk, position);
              clock("write", at);
            }
            f.copied = position + chunk.byteLength;
            advance(f, index);
            // An edited tensor is out with the caller: let its answer in every WATERMARK_STEP bytes, so its write
            // (and the output hash behind it) need not wait for the end of the copy. A turn per chunk cost a job's
            // writer 1–1.5 s of 3.7: a turn is a trip through the thread's event loop.
            sinceTurn += chunk.byteLength;
            if (answer !== null && sinceTurn >= WATERMARK_STEP) {
              sinceTurn = 0;
              await nextTurn();
            }
          }
          if (keep) progress();
        }
        f.copied = reader.fileSize;
        advance(f, index);
      }
      copyFinishedAt = performance.now();
      post({ type: "input_hashed", inputSha256: inputHash.copy().digest("hex") });
    };

    const transforms = async () => {
      let buffer = new ArrayBuffer(0); // grown to the largest transformed tensor, then reused
      for (const [index, f] of files.entries()) {
        for (const t of f.reader.header.tensors) {
          if (!transformed.has(t.name)) continue;
          const size = t.end - t.begin;
          if (buffer.byteLength < size) buffer = new ArrayBuffer(size);
          let at = performance.now();
          const position = f.reader.header.dataStart + t.begin;
          readAt(f.input, new Uint8Array(buffer, 0, size), position);
          at = clock("read", at);
          buffer = await transform(t.name, buffer, size);
          if (copyFinishedAt !== null) clock("waiting", Math.max(at, copyFinishedAt));
          at = performance.now();
          writeAt(f.out, new Uint8Array(buffer, 0, size), position);
          clock("write", at);
          f.pending.shift();
          advance(f, index);
          progress();
        }
      }
    };

    // The transforms first: they run up to their first request, so it is out before the copy's blocking loop
    // starts (the copy gives the loop a turn only while a request is out). The other way round, the whole copy
    // ran before the first request, and every edited tensor waited for it.
    await Promise.all([transforms(), copy()]);
    for (const f of files.splice(0)) closeFile(f);
    return { inputSha256: inputHash.digest("hex"), seconds };
  } finally {
    for (const f of files) closeFile(f);
    for (const reader of readers) await reader.close().catch(() => {});
  }
}

function closeFile(f: OutFile): void {
  closeSync(f.input);
  closeSync(f.out);
}

/**
 * Blocking reads and writes at an offset: this thread does nothing else meanwhile, and a chunk read here lands
 * in this core's cache, where sha256 reads it next (the runtime's asynchronous file operations copy on an I/O
 * thread, another core, and wake this one for every chunk: about a third more CPU time for the same copy).
 */
function readAt(fd: number, into: Uint8Array, position: number): Uint8Array {
  let done = 0;
  while (done < into.byteLength) {
    const read = readSync(fd, into, done, into.byteLength - done, position + done);
    if (read === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += read;
  }
  return into;
}

function writeAt(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) {
    const written = writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
    if (written === 0) throw new Error(`could not write at byte ${position + done}`);
    done += written;
  }
}
