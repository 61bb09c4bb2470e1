/**
 * Blob store in a local directory (PROFS_DATA_DIR/blobs by default). Several processes may share it over a
 * mount: a put writes `<root>/.tmp/<uuid>`, syncs it, renames it into place and syncs the folder; a rename within
 * one filesystem is atomic, so readers see the old blob or the whole new one. A full disk is a
 * `BlobStoreFullError` with the temporary file removed; one left by a killed process goes with `sweepStaging`.
 */
import { createHash } from "node:crypto";
import { syncFolder } from "./in_place.ts";
import { dirname, join } from "node:path";
import {
  type BlobInfo,
  type BlobRead,
  type BlobStat,
  type BlobStore,
  BlobStoreFullError,
  BlobTooLargeError,
  type ByteRange,
  checkBlobKey,
  isDiskFull,
  type PutOptions,
} from "./store.ts";

const READ_CHUNK = 256 * 1024;

export async function createLocalBlobStore(root: string): Promise<BlobStore> {
  const tmpDir = join(root, ".tmp");
  await Deno.mkdir(tmpDir, { recursive: true });
  const pathOf = (key: string) => join(root, checkBlobKey(key));

  async function put(
    key: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: PutOptions = {},
  ): Promise<BlobInfo> {
    const target = pathOf(key);
    const maxBytes = options.maxBytes ?? Infinity;
    const tmp = join(tmpDir, crypto.randomUUID());
    const hash = options.sha256 ? null : createHash("sha256");
    options.sha256?.catch(() => {}); // awaited once the body was read; a rejection before that is not unhandled
    let size = 0;
    let file: Deno.FsFile | null = null;
    try {
      file = await Deno.open(tmp, { write: true, createNew: true });
      const stream = body instanceof Uint8Array ? ReadableStream.from([body]) : body;
      for await (const chunk of stream) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
        hash?.update(chunk);
        await writeAll(file, chunk);
      }
      const sha256 = hash ? hash.digest("hex") : await options.sha256!;
      await file.syncData();
      file.close();
      file = null;
      const info = { key, size, sha256 };
      await options.beforePublish?.(info);
      await Deno.mkdir(dirname(target), { recursive: true });
      await Deno.rename(tmp, target);
      await syncFolder(dirname(target));
      return info;
    } catch (error) {
      try {
        file?.close();
      } catch { /* already closed */ }
      await Deno.remove(tmp).catch(() => {});
      if (isDiskFull(error)) throw new BlobStoreFullError(key, { cause: error });
      throw error;
    }
  }

  /** `.tmp/` files last written before `before` (a put killed mid-stream leaves its file there). */
  async function sweepStaging(before: Date): Promise<number> {
    let removed = 0;
    for await (const entry of Deno.readDir(tmpDir)) {
      const path = join(tmpDir, entry.name);
      const info = await Deno.lstat(path).catch(() => null);
      if (!info || (info.mtime ?? new Date(0)) >= before) continue;
      try {
        await Deno.remove(path, { recursive: true });
        removed++;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return removed;
  }

  async function stat(key: string): Promise<BlobStat | null> {
    try {
      const info = await Deno.stat(pathOf(key));
      if (!info.isFile) return null;
      return { size: info.size, modified: info.mtime ?? new Date(0) };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  async function get(key: string, range?: ByteRange): Promise<BlobRead | null> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(pathOf(key), { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    const size = (await file.stat()).size;
    if (range && !(range.start >= 0 && range.start <= range.end && range.end < size)) {
      file.close();
      throw new RangeError(`range ${range.start}-${range.end} is outside a blob of ${size} bytes`);
    }
    const start = range?.start ?? 0;
    const end = range ? range.end + 1 : size;
    if (start > 0) await file.seek(start, Deno.SeekMode.Start);
    let position = start;
    let closed = false;
    const close = () => {
      if (!closed) file.close();
      closed = true;
    };
    const stream = new ReadableStream<Uint8Array>({
      type: "bytes",
      async pull(controller) {
        if (position >= end) {
          close();
          controller.close();
          return;
        }
        const buffer = new Uint8Array(Math.min(READ_CHUNK, end - position));
        const n = await file.read(buffer);
        if (n === null) {
          close();
          controller.error(new Error(`blob ${key} shrank while being read`));
          return;
        }
        position += n;
        controller.enqueue(buffer.subarray(0, n));
      },
      cancel: close,
    });
    return { body: stream, size, range: range ?? null };
  }

  async function remove(key: string): Promise<boolean> {
    try {
      await Deno.remove(pathOf(key));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  async function list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string, keyPrefix: string) => {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return;
        throw error;
      }
      for (const entry of entries) {
        const key = `${keyPrefix}/${entry.name}`;
        if (entry.isDirectory) await walk(join(dir, entry.name), key);
        else if (entry.isFile) keys.push(key);
      }
    };
    await walk(pathOf(prefix), prefix);
    return keys.sort();
  }

  async function deletePrefix(prefix: string): Promise<void> {
    await Deno.remove(pathOf(prefix), { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  return {
    put,
    get,
    stat,
    exists: async (key) => (await stat(key)) !== null,
    delete: remove,
    list,
    deletePrefix,
    sweepStaging,
    localPath: pathOf,
  };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await file.write(bytes.subarray(offset));
}
