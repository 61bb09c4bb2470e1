/**
 * Blobs as files, for code that needs paths (opening a model folder, reading a safetensors header): read in
 * place when the store has local paths, else downloaded into a temporary directory removed afterwards.
 */
import { dirname, join } from "node:path";
import type { BlobStore } from "./store.ts";

/** Runs `fn` on a directory holding the blobs `<prefix>/<name>` for every name, as files `<dir>/<name>`. */
export async function withBlobFolder<T>(
  blobs: BlobStore,
  prefix: string,
  names: string[],
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const inPlace = blobs.localPath(prefix);
  if (inPlace !== null) return await fn(inPlace);
  const dir = await Deno.makeTempDir({ prefix: "profs-blobs-" });
  try {
    for (const name of names) {
      const blob = await blobs.get(`${prefix}/${name}`);
      if (!blob) throw new Error(`blob ${prefix}/${name} is missing from the store`);
      await Deno.mkdir(dirname(join(dir, name)), { recursive: true });
      await Deno.writeFile(join(dir, name), blob.body);
    }
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
