/**
 * The blob store: where uploaded model files, datasets and job artifacts live, behind one small interface so a
 * local directory (embedded mode, or a directory shared by every process over a mount) and object storage can
 * stand in for each other.
 *
 * Keys are `/`-separated names (`models/<id>/model.safetensors`). A `put` is all-or-nothing: the bytes go to a
 * temporary name and appear under the key only once the whole stream was read, its size was within the cap and
 * every stage of the stream (e.g. a validator piped in front) succeeded; a reader never sees half a blob.
 */
import { DiskSpaceError, InputError } from "../errors.ts";

export interface BlobInfo {
  key: string;
  size: number;
  /** hex sha256 of the bytes, computed while streaming */
  sha256: string;
}

export interface BlobStat {
  size: number;
  modified: Date;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobRead {
  body: ReadableStream<Uint8Array>;
  /** size of the whole blob (not of the range) */
  size: number;
  range: ByteRange | null;
}

export interface PutOptions {
  /** the put fails with `BlobTooLargeError`, storing nothing, as soon as the stream passes this many bytes */
  maxBytes?: number;
  /**
   * Called once the whole body was read, validated and made durable in staging, just before it becomes visible
   * under the key, with what will be published. When it throws, the staged bytes are removed, the key is left
   * as it was and the put rejects with that error: a writer that must claim the key first (one writer per model
   * file) does it here.
   */
  beforePublish?: (info: BlobInfo) => Promise<void>;
  /**
   * The bytes' sha256 as their producer computed it on the way (an edit's writing thread hashes the weights it
   * writes): the store does not hash them a second time and reports this one, once the body was read whole. A
   * rejection fails the put, as a failing body does.
   */
  sha256?: Promise<string>;
}

export interface BlobStore {
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, options?: PutOptions): Promise<BlobInfo>;
  /** null when absent; a range must satisfy 0 ≤ start ≤ end < size (`RangeError` otherwise) */
  get(key: string, range?: ByteRange): Promise<BlobRead | null>;
  stat(key: string): Promise<BlobStat | null>;
  exists(key: string): Promise<boolean>;
  /** true when something was deleted */
  delete(key: string): Promise<boolean>;
  /** every key under `prefix/` (recursively), sorted */
  list(prefix: string): Promise<string[]>;
  deletePrefix(prefix: string): Promise<void>;
  /**
   * Removes what puts left in staging and never published (a process killed mid-upload) when it was last
   * written before `before`: a local store's `.tmp/` files, an S3 bucket's unfinished multipart uploads. Returns
   * how many went. A put still writing touches its staging at every chunk, so a `before` older than any pause in
   * an upload never removes a live one.
   */
  sweepStaging(before: Date): Promise<number>;
  /**
   * The key's path on this machine's filesystem when the store is a directory (local or mounted), so code that
   * needs files — opening a model folder — can read them in place; null for stores without one.
   */
  localPath(key: string): string | null;
}

/**
 * The store's filesystem is full: nothing was stored (the staged bytes are removed). Not the user's input at
 * fault, so the API answers 507, and a retry later (or on another store) may succeed.
 */
export class BlobStoreFullError extends DiskSpaceError {
  override name = "BlobStoreFullError";
  constructor(readonly key: string, options?: ErrorOptions) {
    super(`Cannot store the upload as the blob store must have free space for it: its disk is full`, options);
  }
}

/** Whether `error` is the operating system saying the disk is full (ENOSPC) or over quota (EDQUOT). */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

export class BlobTooLargeError extends InputError {
  override name = "BlobTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`Cannot store the upload as it must be at most ${maxBytes} bytes: it is larger`);
  }
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._=-]*$/;

/** Throws unless `key` is a relative `/`-separated name whose segments cannot climb out of the store. */
export function checkBlobKey(key: string): string {
  const segments = key.split("/");
  if (key.length > 1024 || segments.some((s) => !SEGMENT.test(s) || s === "..")) {
    throw new InputError(
      `Cannot use blob key as it must be '/'-separated names of letters, digits, '.', '_', '-', '=' not ` +
        `starting with '.' or '-': current value is ${JSON.stringify(key)}`,
    );
  }
  return key;
}
