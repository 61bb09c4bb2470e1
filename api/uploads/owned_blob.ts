/**
 * The one order every upload follows, so that every blob a request leaves behind is owned by a row:
 *
 *   1. the store writes the bytes to its staging (`.tmp/<uuid>` in a directory), syncs them and renames them to
 *      the final key (shared/blobs: `put`);
 *   2. the row that records the key is inserted in a transaction (`recordOrRemove`);
 *   3. when that insert fails (or throws), the blob is removed before the error is answered.
 *
 * A process killed between 1 and 2 leaves an unreferenced blob, and one killed during 1 a staging file: the
 * blob janitor (infra/janitor.ts) removes both once they are older than its grace period. Model files, whose key
 * is fixed by the folder layout, claim the file's row before the rename instead (routes/models.ts).
 */
import type { BlobStore } from "../../shared/blobs/store.ts";
import { DiskSpaceError } from "../../shared/errors.ts";

/** Runs `record` (the insert of the row owning `key`); on failure removes the blob `key` and rethrows. */
export async function recordOrRemove<T>(
  blobs: BlobStore,
  key: string,
  record: () => Promise<T>,
): Promise<T> {
  try {
    return await record();
  } catch (error) {
    await blobs.delete(key).catch(() => {/* the janitor removes it later */});
    throw error;
  }
}

/** A full disk passes through an upload's error mapping untouched (→ 507 in api/errors.ts, not a 422). */
export function isDiskSpace(error: unknown): error is DiskSpaceError {
  return error instanceof DiskSpaceError;
}
