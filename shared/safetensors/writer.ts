/**
 * Streaming safetensors writer: the header (and so every tensor's name, dtype, shape and offset) is fixed up
 * front, then data is appended tensor by tensor, in layout order, in chunks of any size. `close()` fails unless
 * every tensor got exactly its byte size, so a short write can never produce a valid-looking file.
 *
 * It does not fsync: flushing a GB-sized model to disk takes seconds (3.9 s for 1.35 GB in a one-off timing here) that the writer
 * would spend blocked. Like `cp` or `torch.save`, the CLI leaves that to the OS; where durability matters — a
 * worker publishing an edit — the blob store's put syncs the copy it keeps (shared/blobs/local.ts).
 */
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { DType } from "./dtype.ts";
import { encodeHeader, type TensorEntry } from "./header.ts";

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Header JSON bytes plus the tensor entries they describe, in data order. */
export interface SafetensorsLayout {
  json: Uint8Array;
  tensors: TensorEntry[];
}

export function layoutFor(tensors: TensorSpec[], metadata: Record<string, string> = {}): SafetensorsLayout {
  const { bytes, entries } = encodeHeader(tensors, metadata);
  return { json: bytes, tensors: entries };
}

export interface SafetensorsWriter {
  /** Appends bytes of tensor `name`, which must be the tensor currently being written. */
  write(name: string, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Closes the file without the completeness check (the caller deletes it). */
  abort(): Promise<void>;
}

export async function createSafetensorsWriter(
  path: string,
  layout: SafetensorsLayout,
): Promise<SafetensorsWriter> {
  const handle: FileHandle = await open(path, "wx");
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(layout.json.byteLength), true);
  await writeAll(handle, prefix);
  await writeAll(handle, layout.json);
  let index = 0;
  let written = 0; // bytes of tensors[index] written so far

  const skipEmpty = () => {
    while (index < layout.tensors.length && layout.tensors[index].end === layout.tensors[index].begin) {
      index++;
    }
  };
  skipEmpty();
  return {
    async write(name, bytes) {
      const t = layout.tensors[index];
      if (!t || t.name !== name) {
        throw new Error(`safetensors writer expected data for '${t?.name ?? "(none)"}', got '${name}'`);
      }
      const size = t.end - t.begin;
      if (written + bytes.byteLength > size) {
        throw new Error(`tensor '${name}' takes ${size} bytes; got ${written + bytes.byteLength}`);
      }
      await writeAll(handle, bytes);
      written += bytes.byteLength;
      if (written === size) {
        index++;
        written = 0;
        skipEmpty();
      }
    },
    async close() {
      if (index < layout.tensors.length) {
        await handle.close();
        throw new Error(`safetensors file closed before tensor '${layout.tensors[index].name}' was complete`);
      }
      await handle.close();
    },
    abort: () => handle.close(),
  };
}

/** Writes a small file whose tensors are all in memory. */
export async function writeSafetensorsFile(
  path: string,
  tensors: (TensorSpec & { data: Uint8Array })[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const writer = await createSafetensorsWriter(path, layoutFor(tensors, metadata));
  try {
    for (const t of tensors) if (t.data.byteLength > 0) await writer.write(t.name, t.data);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.close();
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}
