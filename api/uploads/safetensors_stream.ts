/**
 * Validates a safetensors file while it streams through, so a bad upload is refused before (or while) its
 * gigabytes are written, and never renamed into place. The checks are shared/safetensors' header rules; this
 * only feeds them from a stream: the 8-byte length, the JSON header, then a byte count that must land exactly
 * on the end of the last tensor (a shorter stream is truncated, a longer one has trailing bytes).
 *
 * `declaredSize` is the request's Content-Length when it sent one; without it (chunked uploads) the data size is
 * the end of the last tensor named in the header and the count is checked against that.
 */
import { headerLength, parseHeader } from "../../shared/safetensors/header.ts";
import { InputError } from "../../shared/errors.ts";

export function safetensorsValidator(
  source: string,
  declaredSize: number | null,
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  // Chunks before the end of the header, kept until it is complete (joined once, not per chunk).
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

  const absorbHead = (chunk: Uint8Array) => {
    head.push(chunk);
    headSize += chunk.byteLength;
    if (headerBytes < 0 && headSize >= 8) {
      headerBytes = headerLength(join().subarray(0, 8), declaredSize ?? Number.MAX_SAFE_INTEGER, source);
    }
    if (headerBytes >= 0 && headSize >= 8 + headerBytes) {
      const json = join().subarray(8, 8 + headerBytes);
      const dataBytes = declaredSize !== null ? declaredSize - 8 - headerBytes : lastTensorEnd(json);
      parseHeader(json, dataBytes, source);
      expectedTotal = 8 + headerBytes + dataBytes;
      head = [];
    }
  };

  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (expectedTotal < 0) absorbHead(chunk);
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

/** End of the last tensor's data as the header declares it; 0 when unreadable (parseHeader then says why). */
function lastTensorEnd(json: Uint8Array): number {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(json)) as Record<string, { data_offsets?: unknown }>;
    let end = 0;
    for (const [name, entry] of Object.entries(parsed)) {
      const offsets = entry?.data_offsets;
      if (name !== "__metadata__" && Array.isArray(offsets) && Number.isSafeInteger(offsets[1])) {
        end = Math.max(end, offsets[1] as number);
      }
    }
    return end;
  } catch {
    return 0;
  }
}
