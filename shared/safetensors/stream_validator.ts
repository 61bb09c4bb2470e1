/**
 * Validates a safetensors file while it streams through, so a bad upload is refused before (or while) its
 * gigabytes are written, and never renamed into place. The checks are shared/safetensors' header rules; this
 * only feeds them from a stream: the 8-byte length, the JSON header, then a byte count that must land exactly
 * on the end of the last tensor (a shorter stream is truncated, a longer one has trailing bytes). A header
 * over `maxHeaderBytes` is refused from the 8-byte length, before any of it is buffered; a big header within the
 * cap is parsed off the event loop (shared/safetensors/header_thread.ts).
 *
 * `declaredSize` is the request's Content-Length when it sent one; without it (chunked uploads) the data size is
 * the end of the last tensor named in the header and the count is checked against that.
 */
import { headerLength } from "./header.ts";
import { parseHeaderOffThread } from "./header_thread.ts";
import { InputError } from "../errors.ts";

export interface SafetensorsLimits {
  /** cap on the JSON header (bytes), checked on the first 8 bytes: a longer one is refused before it is read */
  maxHeaderBytes: number;
}

export function safetensorsValidator(
  source: string,
  declaredSize: number | null,
  limits: SafetensorsLimits,
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  // Chunks before the end of the header, kept until it is complete (joined once, not per chunk); at most
  // 8 + maxHeaderBytes plus one chunk.
  let head: Uint8Array[] = [];
  let headSize = 0;
  let headerBytes = -1;
  let expectedTotal = -1;

  const join = (): Uint8Array => {
    const all = new Uint8Array(headSize);
    let offset = 0;
    for (const part of head) {
      all.set(part, offset);
      offset += part.byteLength;
    }
    head = [all];
    return all;
  };

  const absorbHead = async (chunk: Uint8Array) => {
    head.push(chunk);
    headSize += chunk.byteLength;
    if (headerBytes < 0 && headSize >= 8) {
      headerBytes = headerLength(join().subarray(0, 8), declaredSize ?? Number.MAX_SAFE_INTEGER, source, {
        bytes: limits.maxHeaderBytes,
        name: "PROFS_MAX_HEADER_BYTES",
      });
    }
    if (headerBytes >= 0 && headSize >= 8 + headerBytes) {
      const json = join().slice(8, 8 + headerBytes);
      head = [];
      const declaredData = declaredSize !== null ? declaredSize - 8 - headerBytes : null;
      const { dataBytes } = await parseHeaderOffThread(json, declaredData, source);
      expectedTotal = 8 + headerBytes + dataBytes;
    }
  };

  return new TransformStream({
    async transform(chunk, controller) {
      seen += chunk.byteLength;
      if (expectedTotal < 0) await absorbHead(chunk);
      if (expectedTotal >= 0 && seen > expectedTotal) {
        throw new InputError(
          `Cannot store '${source}' as a safetensors file must end with its last tensor: ` +
            `${seen - expectedTotal} or more trailing bytes after byte ${expectedTotal}`,
        );
      }
      controller.enqueue(chunk);
    },
    flush() {
      if (expectedTotal < 0 || seen < expectedTotal) {
        const expected = expectedTotal < 0 ? "a complete header" : `${expectedTotal} bytes`;
        throw new InputError(
          `Cannot store '${source}' as the upload must contain the whole safetensors file: ` +
            `it ended after ${seen} bytes, expected ${expected}`,
        );
      }
    },
  });
}
