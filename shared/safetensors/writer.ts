/**
 * Streaming safetensors writer: the header (and so every tensor's name, dtype, shape and offset) is fixed up
 * front, then data is appended tensor by tensor, in layout order, in chunks of any size. `close()` fails unless
 * every tensor got exactly its byte size, so a short write can never produce a valid-looking file.
 */
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { DType } from "./dtype.ts";
import { encodeHeader, type TensorEntry } from "./header.ts";

const SYNC_EVERY_BYTES = 64 << 20;

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
  // Written data is flushed to disk in the background every SYNC_EVERY_BYTES, while writing goes on, so that
  // close() waits only for the tail instead of the whole file (seconds for a GB-sized model).
  let unsynced = 0;
  let syncing: Promise<void> | null = null;
  const flushInBackground = () => {
    if (syncing || unsynced < SYNC_EVERY_BYTES) return;
    unsynced = 0;
    syncing = handle.datasync().finally(() => syncing = null);
    syncing.catch(() => {}); // a failure shows again in close()'s own sync
  };
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
      unsynced += bytes.byteLength;
      flushInBackground();
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
      await syncing?.catch(() => {});
      await handle.sync();
      await handle.close();
    },
    abort: async () => {
      await syncing?.catch(() => {});
      await handle.close();
    },
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
