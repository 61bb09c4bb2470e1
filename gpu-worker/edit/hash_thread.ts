/// <reference lib="deno.worker" />
/**
 * The body of the output-hashing thread (a Web Worker started by write_model.ts beside write_thread.ts): hashes
 * the output weight files as written, reading each back (from the page cache, as it was just written) up to the
 * watermark the writing thread sends — the offset below which every byte of that file is final. One sha256 over
 * all the files in order, and one per file when there are several (for the blob store).
 *
 * Messages in: `start` (from the caller: the output paths and the port to the writing thread), then over the
 * port `files` (their sizes, once) and `written` (a file's new watermark). Out: `done` or `error`.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { HASH_CHUNK_BYTES } from "../../shared/hash_chunk.ts";

export type HashStart = { type: "start"; paths: string[]; port: MessagePort };

/** From the writing thread. */
export type HashRequest =
  | { type: "files"; sizes: number[] }
  | { type: "written"; file: number; upTo: number };

export type HashResponse =
  | { type: "done"; outputSha256: string; fileSha256: Record<string, string>; seconds: HashSeconds }
  | { type: "error"; message: string };

/** Reading back, hashing, and waiting for the writing thread's watermark. */
export interface HashSeconds {
  read: number;
  hash: number;
  waiting: number;
}

const post = (message: HashResponse) => self.postMessage(message);

self.onmessage = (event: MessageEvent<HashStart>) => {
  hashAll(event.data).then(
    (result) => post({ type: "done", ...result }),
    (error) => post({ type: "error", message: (error as Error).message }),
  );
};

async function hashAll(start: HashStart) {
  const marks: number[] = [];
  let sizes: number[] | null = null;
  let wake: (() => void) | null = null;
  start.port.onmessage = (event: MessageEvent<HashRequest>) => {
    const message = event.data;
    if (message.type === "files") sizes = message.sizes;
    else marks[message.file] = Math.max(marks[message.file] ?? 0, message.upTo);
    wake?.();
    wake = null;
  };
  const seconds: HashSeconds = { read: 0, hash: 0, waiting: 0 };
  const next = () => {
    const at = performance.now();
    return new Promise<void>((resolve) => wake = resolve).then(() => {
      seconds.waiting += (performance.now() - at) / 1000;
    });
  };
  while (sizes === null) await next();
  const total: number[] = sizes;
  if (total.length !== start.paths.length) {
    throw new Error(`hash thread: ${total.length} file sizes for ${start.paths.length} output files`);
  }
  const whole = createHash("sha256");
  const fileSha256: Record<string, string> = {};
  const buffer = new Uint8Array(HASH_CHUNK_BYTES);
  for (const [index, path] of start.paths.entries()) {
    const own: Hash | null = start.paths.length > 1 ? createHash("sha256") : null;
    let fd: number | null = null;
    let position = 0;
    try {
      while (position < total[index]) {
        while ((marks[index] ?? 0) <= position) await next();
        fd ??= openSync(path, "r");
        const length = Math.min(HASH_CHUNK_BYTES, marks[index] - position);
        let at = performance.now();
        const bytes = readAt(fd, buffer.subarray(0, length), position);
        seconds.read += (performance.now() - at) / 1000;
        at = performance.now();
        whole.update(bytes);
        own?.update(bytes);
        seconds.hash += (performance.now() - at) / 1000;
        position += length;
      }
    } finally {
      if (fd !== null) closeSync(fd);
    }
    if (own) fileSha256[basename(path)] = own.digest("hex");
  }
  start.port.close();
  const outputSha256 = whole.digest("hex");
  if (start.paths.length === 1) fileSha256[basename(start.paths[0])] = outputSha256;
  return { outputSha256, fileSha256, seconds };
}

/** A blocking read (see write_thread.ts's readAt: the chunk lands in this core's cache, where sha256 reads it). */
function readAt(fd: number, into: Uint8Array, position: number): Uint8Array {
  let done = 0;
  while (done < into.byteLength) {
    const read = readSync(fd, into, done, into.byteLength - done, position + done);
    if (read === 0) throw new Error(`hash thread: unexpected end of file at byte ${position + done}`);
    done += read;
  }
  return into;
}
