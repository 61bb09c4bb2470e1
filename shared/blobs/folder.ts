/**
 * Blobs as local files, for code that needs paths (opening a model folder, reading a safetensors header, running
 * an edit): read in place when the store keeps them as files (a local directory, also over a shared mount), else
 * downloaded. The one place that decides, with one error for a missing blob: an InputError naming what it was
 * ("Cannot read file 'config.json' of model 'm1' as its stored file is missing (it was deleted)").
 */
import { dirname, join } from "node:path";
import { InputError } from "../errors.ts";
import type { BlobStore } from "./store.ts";

/** One blob and the name it has in a folder (may contain `/`). */
export interface BlobFile {
  key: string;
  name: string;
}

function missing(what: string): InputError {
  return new InputError(`Cannot read ${what} as its stored file is missing (it was deleted)`);
}

/** The blob `key` as a local file: its own path when the store has one, else a download to `target`. */
export async function localBlob(
  blobs: BlobStore,
  key: string,
  target: string,
  what: string,
): Promise<string> {
  const local = blobs.localPath(key);
  if (local !== null) {
    if (await blobs.exists(key)) return local;
    throw missing(what);
  }
  const blob = await blobs.get(key);
  if (!blob) throw missing(what);
  await Deno.mkdir(dirname(target), { recursive: true });
  await Deno.writeFile(target, blob.body);
  return target;
}

/**
 * `files` as one folder holding each blob as `<dir>/<name>`: the store's own directory when every file already
 * sits there under its name, else downloads into `into`. `what` names the whole ("model 'm1'").
 */
export async function localBlobFolder(
  blobs: BlobStore,
  files: BlobFile[],
  into: string,
  what: string,
): Promise<string> {
  const inPlace = files.length === 0 ? null : folderOf(blobs, files[0]);
  if (inPlace !== null && files.every((f) => blobs.localPath(f.key) === join(inPlace, f.name))) {
    for (const f of files) if (!await blobs.exists(f.key)) throw missing(`file '${f.name}' of ${what}`);
    return inPlace;
  }
  await Deno.mkdir(into, { recursive: true });
  for (const f of files) await localBlob(blobs, f.key, join(into, f.name), `file '${f.name}' of ${what}`);
  return into;
}

/** The directory a blob's local path sits in as `<dir>/<name>`, or null. */
function folderOf(blobs: BlobStore, file: BlobFile): string | null {
  const path = blobs.localPath(file.key);
  if (path === null || !path.endsWith(`/${file.name}`)) return null;
  return path.slice(0, path.length - file.name.length - 1);
}

/** Runs `fn` on a folder holding the blobs `<prefix>/<name>` for every name; a download is removed afterwards. */
export async function withBlobFolder<T>(
  blobs: BlobStore,
  prefix: string,
  names: string[],
  fn: (dir: string) => Promise<T>,
  what = `the files under '${prefix}'`,
): Promise<T> {
  const scratch = await Deno.makeTempDir({ prefix: "profs-blobs-" });
  try {
    const files = names.map((name) => ({ key: `${prefix}/${name}`, name }));
    return await fn(await localBlobFolder(blobs, files, join(scratch, "folder"), what));
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}
