/**
 * Blobs written in place: a producer (an edit job) writes its files straight into a local blob store's
 * directory, under a prefix nothing references yet (an attempt-private one), and publishes them by recording
 * their keys — in the transaction that marks the job succeeded — instead of copying every byte through `put`.
 *
 * What makes that as safe as `put`: nothing finds a blob by listing (the database records every key), so a file
 * under an unreferenced prefix is invisible however far it got; `adoptInPlace` makes each file durable (fsync of
 * the file and of its folder) before its key is handed out, so a crash after the commit never exposes a
 * half-written blob; and a prefix that is never published is garbage removed with `deletePrefix`, like a
 * crashed `put`'s temporary file.
 *
 * Stores without local files (S3) have no such folder: `inPlaceFolder` returns null and the producer writes to
 * scratch space and uploads with `put` — a large file while it is still being written, as a multipart upload
 * fed by a follower of the growing file, with the writer's hash passed as `PutOptions.sha256`.
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import type { BlobInfo, BlobStore } from "./store.ts";

/** The local directory where files become the blobs `<prefix>/<name>`, or null when the store keeps none. */
export function inPlaceFolder(blobs: BlobStore, prefix: string): string | null {
  return blobs.localPath(prefix);
}

/**
 * Makes the file written at `blobs.localPath(key)` durable and returns its blob info. `sha256` is the hash its
 * writer computed on the way (the model's weights); without it the file is read once to hash it (small files).
 */
export async function adoptInPlace(blobs: BlobStore, key: string, sha256?: string): Promise<BlobInfo> {
  const path = blobs.localPath(key);
  if (path === null) throw new Error(`cannot adopt blob ${key}: the store keeps no local files`);
  const file = await Deno.open(path, { read: true });
  let size: number;
  const hash = sha256 === undefined ? createHash("sha256") : null;
  try {
    await file.syncData();
    size = (await file.stat()).size;
    if (hash) {
      const buffer = new Uint8Array(1 << 20);
      for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
        hash.update(buffer.subarray(0, n));
      }
    }
  } finally {
    file.close();
  }
  // The folders up to the store's root were made (or renamed into place) by the writer: their entries too.
  let folder = path;
  for (let depth = key.split("/").length - 1; depth > 0; depth--) await syncFolder(folder = dirname(folder));
  return { key, size, sha256: sha256 ?? hash!.digest("hex") };
}

/** fsync of a directory, so the names in it survive a crash too. */
export async function syncFolder(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.syncData();
  } finally {
    dir.close();
  }
}
